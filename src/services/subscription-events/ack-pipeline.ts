// The XACK pipeline of the subscription-events reader. On the live path an acknowledgement goes
// out without waiting for its reply, pipelined ahead of the next read on the same connection
// (Redis runs them in order), so entries written meanwhile need not wait for it: back-to-back
// scanner writes reach the upstream as fast as spaced ones. A failure is kept and surfaces at
// the loop's next turn. Re-reads of pending entries wait for their ack instead: an ack that keeps
// failing (fenced out) must stop them, not make them read the same entries again and again.

export class AckPipeline {
  /** The last acknowledgement sent; it never rejects (its failure is kept instead). */
  private acking: Promise<void> = Promise.resolve();
  private failure: unknown = null;

  constructor(private readonly ack: (ids: string[]) => Promise<void>) {}

  /** Acknowledges `ids`; unless `pipelined`, waits for the reply and throws its failure. */
  async send(ids: string[], pipelined: boolean): Promise<void> {
    this.acking = this.ack(ids).catch((err: unknown) => {
      this.failure = err;
    });
    if (!pipelined) {
      await this.acking;
      this.throwFailure();
    }
  }

  /** Throws (once) the failure of an acknowledgement sent earlier, if any. */
  throwFailure(): void {
    if (this.failure === null) return;
    const err = this.failure;
    this.failure = null;
    throw err;
  }

  /** Resolves once the last acknowledgement is answered. */
  settled(): Promise<void> {
    return this.acking;
  }

  /** The failure not yet thrown, if any (for the reader's last log line). */
  pendingFailure(): unknown {
    return this.failure;
  }
}
