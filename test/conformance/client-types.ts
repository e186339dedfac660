// The official JS client's own declaration of each stocks event, read from the .d.ts it ships
// (node_modules/@massive.com/client-js/dist/main.d.ts) with the TypeScript parser: the judge of
// which fields an event must carry is the provider's client, not a list we keep ourselves.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const DTS = fileURLToPath(new URL('../../node_modules/@massive.com/client-js/dist/main.d.ts', import.meta.url));

let source: ts.SourceFile | null = null;

/**
 * The fields the client declares for `name` (an interface, or a type alias of an object type),
 * each with its TypeScript type as written (`number`, `string`, `number[]`), in declaration order.
 */
export function declaredFieldTypes(name: string): Record<string, string> {
  source ??= ts.createSourceFile(DTS, readFileSync(DTS, 'utf8'), ts.ScriptTarget.Latest, false);
  const sf = source;
  for (const st of sf.statements) {
    let members: ts.NodeArray<ts.TypeElement> | null = null;
    if (ts.isInterfaceDeclaration(st) && st.name.text === name) members = st.members;
    else if (ts.isTypeAliasDeclaration(st) && st.name.text === name && ts.isTypeLiteralNode(st.type)) members = st.type.members;
    if (!members) continue;
    const out: Record<string, string> = {};
    for (const m of members) {
      if (ts.isPropertySignature(m) && m.type && (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name))) {
        out[m.name.text] = m.type.getText(sf);
      }
    }
    return out;
  }
  throw new Error(`@massive.com/client-js declares no ${name}`);
}

/** The property names the client declares for `name`. */
export function declaredFields(name: string): string[] {
  return Object.keys(declaredFieldTypes(name));
}
