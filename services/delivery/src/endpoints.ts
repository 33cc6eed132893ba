import { type Sql, SharedRateLimiter } from "@roundtrip/db";

export type EndpointLimits = {
  /** Requests in flight at once to one endpoint, over every delivery replica. */
  concurrency: number;
  /** Requests started per second to one endpoint, over every delivery replica. */
  ratePerSecond: number;
  /** Consecutive failures (over every replica) that open the circuit. */
  breakerFailures: number;
  /** How long an open circuit waits before letting one request probe. */
  halfOpenAfterMs: number;
};

/** Why an attempt was not made now; the delivery waits `delayMs` without using up an attempt. */
export type Deferral = { reason: "circuit_open" | "endpoint_busy" | "rate_limited"; delayMs: number };

const ENDPOINT = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)(?:[^/?#@]*@)?([^/?#]*)/;

/**
 * Scheme, host and port of a URL, lower case, without user info: what the per-endpoint limits
 * group by. The `deliveries.endpoint` column (migration 0410) computes the same in SQL.
 */
export function endpointKey(url: string): string {
  const m = ENDPOINT.exec(url);
  return (m ? `${m[1]}${m[2]}` : url).toLowerCase();
}

/** How long a slot outlives a sender that died holding it (the delivery lease). */
export type SharedEndpointOptions = EndpointLimits & { leaseMs: number };

/**
 * Isolation per endpoint (scheme, host and port) for the whole cluster: a concurrency limit, a
 * rate limit and a circuit breaker that opens after consecutive failures, each shared by every
 * delivery replica (docs/internals.md, "Limits across replicas"). An endpoint that hangs holds at
 * most `concurrency` requests of all senders together, and once its circuit is open no replica
 * connects to it until one probe, so one dead affiliate cannot slow the others.
 *
 * Slots and the circuit live in PostgreSQL (migration 0531: one call before an attempt, one
 * after — a delivery attempt writes several rows anyway); the rate is a SharedRateLimiter, spent
 * from memory between leases.
 */
export class Endpoints {
  private readonly rate: SharedRateLimiter;

  constructor(
    private readonly sql: Sql,
    private readonly limits: SharedEndpointOptions,
  ) {
    this.rate = new SharedRateLimiter(sql, { namespace: "delivery-endpoints" });
  }

  static key(url: string): string {
    return endpointKey(url);
  }

  /**
   * Endpoints that would refuse an attempt now, for every replica: all slots busy, the circuit
   * open (not yet due for a probe) or a probe out; plus those whose rate this replica knows is
   * spent for this second. The sender claims no delivery for them, so a row is only leased when
   * it is about to be sent.
   */
  async blocked(): Promise<string[]> {
    const rows = await this.sql<{ endpoint: string }[]>`
      select endpoint from delivery_circuits
      where opened_at is not null
        and (now() < opened_at + make_interval(secs => ${this.limits.halfOpenAfterMs / 1000})
             or probe_until > now())
      union
      select endpoint from delivery_endpoint_slots where expires_at > now()
      group by endpoint having count(*) >= ${this.limits.concurrency}`;
    return [...new Set([...rows.map((r) => r.endpoint), ...this.rate.spentKeys()])];
  }

  /**
   * Runs `fn` under the endpoint's limits, or says why not now. `failed(result)` tells the
   * breaker which answers count as failures (a thrown error always does).
   */
  async run<T>(
    key: string,
    deliveryId: string,
    fn: () => Promise<T>,
    failed: (result: T) => boolean,
  ): Promise<{ ran: true; result: T } | { ran: false; deferral: Deferral }> {
    // A token spent on a call the circuit or a full endpoint then refuses is only this endpoint's loss.
    const token = await this.rate.take(key, this.limits.ratePerSecond);
    if (!token.ok)
      return { ran: false, deferral: { reason: "rate_limited", delayMs: Math.max(50, token.retryAfterMs) } };
    const [row] = await this.sql<{ admitted: "ok" | "probe" | "circuit_open" | "endpoint_busy" }[]>`
      select delivery_endpoint_acquire(${key}, ${deliveryId}, ${this.limits.concurrency},
        ${this.limits.halfOpenAfterMs}, ${this.limits.leaseMs}) as admitted`;
    const admitted = row?.admitted;
    if (admitted === "circuit_open")
      return { ran: false, deferral: { reason: "circuit_open", delayMs: this.limits.halfOpenAfterMs } };
    if (admitted !== "ok" && admitted !== "probe")
      return { ran: false, deferral: { reason: "endpoint_busy", delayMs: 250 } };
    let outcome = true; // a thrown error counts as a failure
    try {
      const result = await fn();
      outcome = failed(result);
      return { ran: true, result };
    } finally {
      await this.sql`
        select delivery_endpoint_release(${key}, ${deliveryId}, ${outcome}, ${admitted === "probe"},
          ${this.limits.breakerFailures})`;
    }
  }

  /** The endpoint's circuit as every replica sees it. */
  async state(key: string): Promise<"closed" | "open" | "half_open"> {
    const [c] = await this.sql<{ open: boolean; probing: boolean }[]>`
      select opened_at is not null as open, coalesce(probe_until > now(), false) as probing
      from delivery_circuits where endpoint = ${key}`;
    return !c?.open ? "closed" : c.probing ? "half_open" : "open";
  }
}
