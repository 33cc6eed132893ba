import {
  BrokenCircuitError,
  type BulkheadPolicy,
  bulkhead,
  type CircuitBreakerPolicy,
  CircuitState,
  circuitBreaker,
  ConsecutiveBreaker,
  handleAll,
} from "cockatiel";
import { RateLimiter } from "limiter";

export type EndpointLimits = {
  /** Requests in flight at once to one endpoint (per replica). */
  concurrency: number;
  /** Requests started per second to one endpoint (per replica). */
  ratePerSecond: number;
  /** Consecutive failures that open the circuit. */
  breakerFailures: number;
  /** How long an open circuit waits before letting one request probe. */
  halfOpenAfterMs: number;
};

/** Why an attempt was not made now; the delivery waits `delayMs` without using up an attempt. */
export type Deferral = { reason: "circuit_open" | "endpoint_busy" | "rate_limited"; delayMs: number };

type Endpoint = {
  bulkhead: BulkheadPolicy;
  breaker: CircuitBreakerPolicy;
  rate: RateLimiter;
  usedAt: number;
  /** When the circuit last opened (cockatiel keeps it to itself). */
  openedAt: number;
};

const ENDPOINT = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)(?:[^/?#@]*@)?([^/?#]*)/;

/**
 * Scheme, host and port of a URL, lower case, without user info: what the per-endpoint limits
 * group by. The `deliveries.endpoint` column (migration 0410) computes the same in SQL.
 */
export function endpointKey(url: string): string {
  const m = ENDPOINT.exec(url);
  return (m ? `${m[1]}${m[2]}` : url).toLowerCase();
}

const IDLE_MS = 15 * 60_000;

/**
 * Isolation per endpoint (scheme, host and port): a concurrency limit (bulkhead), a rate limit
 * (token bucket) and a circuit breaker that opens after consecutive failures. An endpoint that
 * hangs holds at most `concurrency` of the sender's slots, and once its circuit is open its
 * deliveries are pushed back without a connection attempt, so one dead affiliate cannot slow
 * the others. Limits are per replica.
 */
export class Endpoints {
  private readonly endpoints = new Map<string, Endpoint>();

  constructor(private readonly limits: EndpointLimits) {}

  static key(url: string): string {
    return endpointKey(url);
  }

  /**
   * Endpoints that would refuse an attempt now: every slot busy, the circuit open (not yet due
   * for a probe) or half-open (a probe in flight), or the rate limit spent. The sender claims no
   * delivery for them, so a row is only leased when it is about to be sent.
   */
  blocked(): string[] {
    const now = Date.now();
    const out: string[] = [];
    for (const [key, e] of this.endpoints) {
      const s = e.breaker.state;
      if (
        e.bulkhead.executionSlots <= 0 ||
        s === CircuitState.HalfOpen ||
        (s === CircuitState.Open && now - e.openedAt < this.limits.halfOpenAfterMs) ||
        e.rate.getWaitTime(1) > 0
      )
        out.push(key);
    }
    return out;
  }

  /**
   * Runs `fn` under the endpoint's policies, or says why not now. `failed(result)` tells the
   * breaker which answers count as failures (a thrown error always does).
   */
  async run<T>(
    key: string,
    fn: () => Promise<T>,
    failed: (result: T) => boolean,
  ): Promise<{ ran: true; result: T } | { ran: false; deferral: Deferral }> {
    const e = this.get(key);
    if (e.bulkhead.executionSlots <= 0)
      return { ran: false, deferral: { reason: "endpoint_busy", delayMs: 250 } };
    // A token spent on a call the open circuit then refuses is only this endpoint's loss.
    if (!e.rate.tryRemoveTokens(1)) {
      return {
        ran: false,
        deferral: { reason: "rate_limited", delayMs: Math.max(50, Math.ceil(e.rate.getWaitTime(1))) },
      };
    }
    let outcome: T | undefined;
    try {
      outcome = await e.bulkhead.execute(() =>
        e.breaker.execute(async () => {
          const result = await fn();
          if (failed(result)) throw new ResultFailure(result);
          return result;
        }),
      );
      return { ran: true, result: outcome as T };
    } catch (err) {
      if (err instanceof ResultFailure) return { ran: true, result: err.result as T };
      // Open: refused without a request; once halfOpenAfterMs has passed, the next call probes.
      if (err instanceof BrokenCircuitError)
        return { ran: false, deferral: { reason: "circuit_open", delayMs: this.limits.halfOpenAfterMs } };
      throw err;
    }
  }

  state(key: string): "closed" | "open" | "half_open" {
    const s = this.endpoints.get(key)?.breaker.state;
    return s === CircuitState.Open ? "open" : s === CircuitState.HalfOpen ? "half_open" : "closed";
  }

  private get(key: string): Endpoint {
    const now = Date.now();
    let e = this.endpoints.get(key);
    if (!e) {
      this.prune(now);
      const created: Endpoint = {
        bulkhead: bulkhead(this.limits.concurrency, 0),
        breaker: circuitBreaker(handleAll, {
          halfOpenAfter: this.limits.halfOpenAfterMs,
          breaker: new ConsecutiveBreaker(this.limits.breakerFailures),
        }),
        rate: new RateLimiter({ tokensPerInterval: this.limits.ratePerSecond, interval: "second" }),
        usedAt: now,
        openedAt: 0,
      };
      created.breaker.onBreak(() => {
        created.openedAt = Date.now();
      });
      e = created;
      this.endpoints.set(key, e);
    }
    e.usedAt = now;
    return e;
  }

  // Idle endpoints with a closed circuit hold nothing worth keeping.
  private prune(now: number): void {
    if (this.endpoints.size < 1_000) return;
    for (const [key, e] of this.endpoints) {
      if (
        now - e.usedAt > IDLE_MS &&
        e.breaker.state === CircuitState.Closed &&
        e.bulkhead.executionSlots > 0
      ) {
        this.endpoints.delete(key);
      }
    }
  }
}

/** A completed request the breaker must count as a failure (5xx, 429): thrown through it, then unwrapped. */
class ResultFailure<T> extends Error {
  override readonly name = "ResultFailure";
  constructor(readonly result: T) {
    super("failed answer");
  }
}
