import type { Bus } from "@roundtrip/bus";
import type { Logger, Registry } from "@roundtrip/telemetry";
import { Gauge } from "prom-client";

/** The durable consumer whose commit stores a click row (docs/internals.md, Streams). */
const STORING_CONSUMER = "attribution-clicks";

export type UnstoredLag = {
  /** Reads the consumer's state once (the gauge is computed at each scrape from it). */
  collect(): Promise<void>;
  /** Seconds the oldest published-but-unstored click has waited, as of now (0 when none). */
  seconds(): number;
  stop(): void;
};

/**
 * How long the oldest click published to CLICKS has gone without being stored by attribution:
 * the window a broker store loss would cost (lag × click rate, sub IDs included) on a single node.
 *
 * Measured from the consumer's ack floor: every message up to it is stored, so the message right
 * after it is the oldest that may not be, and its stream timestamp is when it was published. Two
 * JetStream API calls per interval, whatever the backlog; consumer counts alone would say how many
 * clicks wait, not for how long. The age is computed at scrape time from the last reading, so it
 * keeps growing while the broker cannot be asked (those clicks are still not stored).
 */
export function startUnstoredLag(
  bus: Bus,
  options: { registry: Registry; logger: Logger; intervalMs?: number },
): UnstoredLag {
  const stream = bus.names.stream("CLICKS");
  let oldestAt: number | undefined; // publish time (ms) of the oldest unstored click; undefined = none
  const seconds = () => (oldestAt === undefined ? 0 : Math.max(0, (Date.now() - oldestAt) / 1000));
  new Gauge({
    name: "roundtrip_clicks_unstored_lag_seconds",
    help: "Age of the oldest click published to CLICKS and not yet stored by attribution (0 = none)",
    registers: [options.registry],
    collect() {
      this.set(seconds());
    },
  });

  async function collect(): Promise<void> {
    const info = await bus.jsm.consumers.info(stream, STORING_CONSUMER);
    if (info.num_pending + info.num_ack_pending === 0) {
      oldestAt = undefined;
      return;
    }
    const oldest = await bus.jsm.streams.getMessage(stream, { seq: info.ack_floor.stream_seq + 1 });
    // Null only if it aged out of the stream meanwhile: keep the previous reading until the next.
    if (oldest) oldestAt = oldest.time.getTime();
  }

  let failing = false;
  const tick = () =>
    collect().then(
      () => {
        failing = false;
      },
      (err) => {
        if (!failing)
          options.logger.warn("stored-click lag: CLICKS consumer state unavailable", { error: err as Error });
        failing = true;
      },
    );
  const timer = setInterval(tick, options.intervalMs ?? 10_000);
  timer.unref?.();
  void tick();
  return { collect, seconds, stop: () => clearInterval(timer) };
}
