/**
 * What this process cannot do on the bus right now, and since when. Consume loops and outbox
 * relays report each attempt here; `/readyz` reads it from memory, so readiness costs no broker
 * round trip and reflects the work itself rather than a ping that can pass while nothing moves.
 */
export class BusHealth {
  private readonly failures = new Map<string, { since: number; reason: string }>();
  /** False between a disconnect and the reconnect: work that needs the broker waits instead of timing out. */
  connected = true;

  /** `what` names the capability, e.g. `consumer attribution-clicks cannot pull`. */
  failed(what: string, err: unknown): void {
    const reason = describe(err);
    const known = this.failures.get(what);
    if (known) known.reason = reason;
    else this.failures.set(what, { since: Date.now(), reason });
  }

  succeeded(what: string): void {
    this.failures.delete(what);
  }

  /**
   * Failures that have lasted at least `thresholdMs`, oldest first, as readiness reasons:
   * `nats: consumer attribution-clicks cannot pull for 12 s: stream not found`.
   */
  problems(thresholdMs: number, now = Date.now()): string[] {
    return [...this.failures.entries()]
      .filter(([, f]) => now - f.since >= thresholdMs)
      .sort(([, a], [, b]) => a.since - b.since)
      .map(([what, f]) => `nats: ${what} for ${Math.round((now - f.since) / 1_000)} s: ${f.reason}`);
  }
}

function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s+/g, " ").slice(0, 200);
}
