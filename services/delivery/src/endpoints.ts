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
};

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
    try {
      const u = new URL(url);
      return `${u.protocol}//${u.host}`;
    } catch {
      return url;
    }
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
      e = {
        bulkhead: bulkhead(this.limits.concurrency, 0),
        breaker: circuitBreaker(handleAll, {
          halfOpenAfter: this.limits.halfOpenAfterMs,
          breaker: new ConsecutiveBreaker(this.limits.breakerFailures),
        }),
        rate: new RateLimiter({ tokensPerInterval: this.limits.ratePerSecond, interval: "second" }),
        usedAt: now,
      };
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
