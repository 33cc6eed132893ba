import type { JsMsg } from "@nats-io/jetstream";

export type BatcherOptions = {
  /** Messages per batch at most. */
  maxMessages: number;
  /** Batches handled at once. */
  concurrency: number;
  /** Handles one batch and settles each of its messages; never rejects. */
  run(messages: JsMsg[]): Promise<void>;
  /** How often a held message must say it is still being worked on (its ack deadline / 3). */
  heartbeatMs(deliveryCount: number): number;
  /** Sends the progress ack; never throws. */
  beat(m: JsMsg): void;
};

const TICK_MS = 100;

/**
 * Group commit for a consumer: messages that arrive while earlier batches are being handled wait
 * and leave together as the next batch, so under load one transaction carries many messages
 * (throughput grows with the backlog instead of with round trips) while an idle consumer still
 * handles a lone message at once. Messages fetched in one go are grouped too (the batch is formed
 * on the next turn of the event loop, after the fetch handed over what it had).
 *
 * Every message held — waiting or in a batch — gets progress acks once it is older than its
 * heartbeat, so a backlog waiting here is not redelivered to another replica meanwhile.
 */
export class Batcher {
  private readonly pending: JsMsg[] = [];
  private readonly held = new Map<JsMsg, number>();
  readonly running = new Set<Promise<void>>();
  private scheduled = false;
  private ticker: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly options: BatcherOptions) {}

  /** Messages pulled and not yet settled. */
  get size(): number {
    return this.held.size;
  }

  add(m: JsMsg): void {
    this.held.set(m, performance.now());
    this.pending.push(m);
    this.ticker ??= setInterval(() => this.beat(), TICK_MS);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.pump();
      });
    }
  }

  /** Starts batches while slots are free; afterwards, anything waiting has a batch running ahead of it. */
  pump(): void {
    while (this.pending.length > 0 && this.running.size < this.options.concurrency) {
      const batch = this.pending.splice(0, this.options.maxMessages);
      const p: Promise<void> = this.options.run(batch).finally(() => {
        this.running.delete(p);
        for (const m of batch) this.held.delete(m);
        if (this.held.size === 0) this.idle();
        this.pump();
      });
      this.running.add(p);
    }
  }

  /** Takes back what waits for a slot (stopping: hand it to another replica). */
  takePending(): JsMsg[] {
    const out = this.pending.splice(0);
    for (const m of out) this.held.delete(m);
    if (this.held.size === 0) this.idle();
    return out;
  }

  private beat(): void {
    const now = performance.now();
    for (const [m, last] of this.held) {
      if (now - last < this.options.heartbeatMs(m.info.deliveryCount)) continue;
      this.options.beat(m);
      this.held.set(m, now);
    }
  }

  private idle(): void {
    clearInterval(this.ticker);
    this.ticker = undefined;
  }
}
