import type { Sql } from "./client.ts";

export type RateTake = { ok: true } | { ok: false; retryAfterMs: number };

type Window = {
  second: number;
  /** Tokens this replica leased for `second` and has not spent. */
  tokens: number;
  /** The cluster's budget for `second` is spent: refuse without asking again. */
  spent: boolean;
  /** A lease in flight; concurrent callers wait for it instead of asking too. */
  leasing?: Promise<void>;
};

export type SharedRateLimiterOptions = {
  /** Prefix of every key in `rate_budgets`, so two limiters never share a budget by accident. */
  namespace: string;
  /**
   * Share of a second's budget one lease takes (default 0.1): larger means fewer round trips,
   * smaller means less budget stranded in one replica when the second ends.
   */
  leaseShare?: number;
  /** Clock (ms epoch); tests move it. */
  now?: () => number;
};

/**
 * A per-second rate limit that holds for the whole cluster: the budget of each key and second
 * lives in PostgreSQL (`take_rate_budget`, migration 0530), and each replica leases a share of
 * it at a time and spends the lease from memory. So the sum admitted by every replica in one
 * second never exceeds the limit, while a replica asks PostgreSQL about once per lease rather
 * than once per request. What a replica leased and did not spend before the second ended is
 * lost: up to a lease per replica per second may go unused (never over-admitted).
 */
export class SharedRateLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly now: () => number;
  private readonly leaseShare: number;

  constructor(
    private readonly sql: Sql,
    private readonly options: SharedRateLimiterOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.leaseShare = options.leaseShare ?? 0.1;
  }

  /** Takes one token of `key`'s `perSecond` budget, or says how long until the next second. */
  async take(key: string, perSecond: number): Promise<RateTake> {
    for (;;) {
      const now = this.now();
      const second = Math.floor(now / 1000);
      const w = this.window(key, second);
      if (w.tokens > 0) {
        w.tokens--;
        return { ok: true };
      }
      if (w.spent) return { ok: false, retryAfterMs: 1000 - (now % 1000) };
      w.leasing ??= this.lease(key, w, perSecond).finally(() => {
        w.leasing = undefined;
      });
      await w.leasing;
    }
  }

  /** How long until `key` may have a token again, from what this replica knows (0: ask). */
  waitMs(key: string): number {
    const now = this.now();
    const w = this.windows.get(key);
    if (!w || w.second !== Math.floor(now / 1000) || !w.spent || w.tokens > 0) return 0;
    return 1000 - (now % 1000);
  }

  /** Keys whose budget this replica knows is spent for the current second. */
  spentKeys(): string[] {
    const second = Math.floor(this.now() / 1000);
    const out: string[] = [];
    for (const [key, w] of this.windows) if (w.second === second && w.spent && w.tokens === 0) out.push(key);
    return out;
  }

  private window(key: string, second: number): Window {
    let w = this.windows.get(key);
    if (!w || w.second < second) {
      if (!w) this.prune(second);
      w = { second, tokens: 0, spent: false };
      this.windows.set(key, w);
    }
    return w;
  }

  private async lease(key: string, w: Window, perSecond: number): Promise<void> {
    const want = Math.max(1, Math.floor(perSecond * this.leaseShare));
    const [row] = await this.sql<{ granted: number }[]>`
      select take_rate_budget(${`${this.options.namespace}:${key}`}, ${w.second}, ${want}, ${perSecond}) as granted`;
    const granted = row?.granted ?? 0;
    w.tokens += granted;
    if (granted < want) w.spent = true;
  }

  // Keys seen once and never again (an endpoint that went away) must not pile up.
  private prune(second: number): void {
    if (this.windows.size < 10_000) return;
    for (const [key, w] of this.windows) if (w.second < second && !w.leasing) this.windows.delete(key);
  }
}
