import { describe, expect, it } from 'vitest';
import { AckPipeline } from '../../../src/services/subscription-events/ack-pipeline.js';

function deferred() {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('AckPipeline', () => {
  it('pipelined: returns before the reply; a failure surfaces once, at the next check', async () => {
    const replies = [deferred(), deferred()];
    const sent: string[][] = [];
    const p = new AckPipeline((ids) => {
      sent.push(ids);
      return (replies[sent.length - 1] as ReturnType<typeof deferred>).promise;
    });
    await p.send(['1-0'], true);
    await p.send(['2-0'], true);
    expect(sent).toEqual([['1-0'], ['2-0']]);
    expect(() => p.throwFailure()).not.toThrow();
    replies[0]?.resolve();
    replies[1]?.reject(new Error('fenced'));
    await p.settled();
    expect(p.pendingFailure()).toBeInstanceOf(Error);
    expect(() => p.throwFailure()).toThrow('fenced');
    expect(() => p.throwFailure()).not.toThrow();
    expect(p.pendingFailure()).toBeNull();
  });

  it('not pipelined: waits for the reply and throws its failure', async () => {
    // The reply comes when the test says so: `send` must not return before it.
    let reply!: () => void;
    const ok = new AckPipeline(() => new Promise<void>((resolve) => (reply = resolve)));
    let returned = false;
    const sent = ok.send(['1-0'], false).then(() => (returned = true));
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(returned).toBe(false);
    reply();
    await sent;
    expect(returned).toBe(true);
    const failing = new AckPipeline(() => Promise.reject(new Error('NOPERM')));
    await expect(failing.send(['1-0'], false)).rejects.toThrow('NOPERM');
    expect(failing.pendingFailure()).toBeNull();
  });
});
