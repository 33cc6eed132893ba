import type { Bus } from "@roundtrip/bus";
import {
  type CircuitBreakerPolicy,
  CircuitState,
  circuitBreaker,
  ConsecutiveBreaker,
  handleAll,
} from "cockatiel";

export type BreakerState = "closed" | "open" | "half_open";

export type PublishBreakerOptions = {
  /** Consecutive failed publishes that open the circuit. */
  failures: number;
  /** How long an open circuit waits before a probe may close it. */
  halfOpenAfterMs: number;
  /** Asks the broker whether publishes would go through now (e.g. the CLICKS stream answers). */
  probe: () => Promise<unknown>;
  /** A probe slower than this failed. */
  probeTimeoutMs: number;
  /** Held open while this connection is down: a disconnect is known at once, a timeout only later. */
  connection?: Bus["nc"];
  onChange?: (state: BreakerState, cause?: unknown) => void;
};

/**
 * The broker's circuit on the click path (cockatiel's breaker). While it is closed, batches are
 * published; `failures` failed publishes in a row, or the connection reporting a disconnect, open
 * it, and batches go straight to PostgreSQL. An open circuit is probed in the background every
 * `halfOpenAfterMs` and closes on the first probe that answers. A visitor's click is never the
 * probe: in cockatiel's half-open state every other call waits for the probe, and a redirect
 * must not wait on a broker that may still be down.
 */
export class PublishBreaker {
  private readonly policy: CircuitBreakerPolicy;
  private probeTimer: ReturnType<typeof setTimeout> | undefined;
  private isolation: { dispose(): void } | undefined;
  private stopped = false;
  /** Rejects when the circuit opens, so publishes still in flight stop waiting for their timeout. */
  private opened = openSignal();

  constructor(private readonly options: PublishBreakerOptions) {
    this.policy = circuitBreaker(handleAll, {
      halfOpenAfter: options.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(options.failures),
    });
    this.policy.onBreak((reason) => {
      this.opened.open();
      this.options.onChange?.(
        "open",
        "error" in reason ? reason.error : "isolated" in reason ? "connection to NATS lost" : reason,
      );
      if (!("isolated" in reason)) this.scheduleProbe();
    });
    this.policy.onHalfOpen(() => this.options.onChange?.("half_open"));
    this.policy.onReset(() => {
      this.opened = openSignal();
      this.options.onChange?.("closed");
    });
    if (options.connection) void this.followConnection(options.connection);
  }

  /** Batches may be published (otherwise they go to PostgreSQL without trying). */
  get closed(): boolean {
    return this.policy.state === CircuitState.Closed;
  }

  get state(): BreakerState {
    const s = this.policy.state;
    return s === CircuitState.Closed ? "closed" : s === CircuitState.HalfOpen ? "half_open" : "open";
  }

  /**
   * Runs a publish through the circuit; its failure counts towards opening it. Only while closed.
   * Should the circuit open meanwhile (the connection dropped), it fails at once rather than when
   * its timeout runs out: the batch goes to PostgreSQL under the same message ID, so a publish that
   * lands after all is stored and counted once.
   */
  execute<T>(publish: () => Promise<T>): Promise<T> {
    const run = this.policy.execute(publish);
    run.catch(() => {}); // settled by the race below, or abandoned to it
    return Promise.race([run, this.opened.promise]);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.probeTimer);
  }

  private scheduleProbe(): void {
    clearTimeout(this.probeTimer);
    if (this.stopped) return;
    // A little after the half-open delay, so the probe is the call that half-opens the circuit.
    this.probeTimer = setTimeout(() => void this.runProbe(), this.options.halfOpenAfterMs + 10);
    this.probeTimer.unref?.();
  }

  private async runProbe(): Promise<void> {
    this.probeTimer = undefined;
    if (this.stopped || this.policy.state !== CircuitState.Open) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await this.policy.execute(() =>
        Promise.race([
          this.options.probe(),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`broker probe timed out after ${this.options.probeTimeoutMs} ms`)),
              this.options.probeTimeoutMs,
            );
          }),
        ]),
      );
    } catch {
      // A failed probe opened the circuit again (and onBreak scheduled the next one); a probe
      // refused as too early did not, so it is rescheduled here.
      if (this.policy.state === CircuitState.Open && !this.probeTimer) this.scheduleProbe();
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A disconnect holds the circuit open until the client has reconnected; then the circuit closes
   * and the next publishes decide (a broker that came back without JetStream opens it again).
   */
  private async followConnection(nc: Bus["nc"]): Promise<void> {
    for await (const s of nc.status()) {
      if (this.stopped) break;
      if (s.type === "disconnect" && !this.isolation) {
        clearTimeout(this.probeTimer);
        this.isolation = this.policy.isolate();
      } else if (s.type === "reconnect" && this.isolation) {
        const isolation = this.isolation;
        this.isolation = undefined;
        isolation.dispose();
      }
    }
  }
}

function openSignal(): { promise: Promise<never>; open(): void } {
  let open: () => void = () => {};
  const promise = new Promise<never>((_, reject) => {
    open = () => reject(new Error("the broker circuit opened while this publish was in flight"));
  });
  promise.catch(() => {});
  return { promise, open };
}
