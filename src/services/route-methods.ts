import type { FastifyInstance } from 'fastify';

// Fastify answers a known path asked with the wrong method as it answers an unknown path (404).
// HTTP says 405 with an `Allow` header naming the methods the path has: this remembers them as
// routes are added, for the not-found handler to tell the two apart.

export interface RouteMethods {
  /** The `Allow` header for a request URL whose path has routes, else null. */
  allowOf(url: string): string | null;
}

/** Call before adding routes: only routes added afterwards are seen. */
export function trackRouteMethods(app: FastifyInstance): RouteMethods {
  const byPath = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    const methods = byPath.get(route.url) ?? new Set<string>();
    for (const m of Array.isArray(route.method) ? route.method : [route.method]) methods.add(m.toUpperCase());
    // Fastify serves HEAD for every GET route.
    if (methods.has('GET')) methods.add('HEAD');
    byPath.set(route.url, methods);
  });
  return {
    allowOf(url) {
      const q = url.indexOf('?');
      const methods = byPath.get(q < 0 ? url : url.slice(0, q));
      return methods ? [...methods].sort().join(', ') : null;
    },
  };
}
