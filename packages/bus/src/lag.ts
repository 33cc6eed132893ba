import type { Registry } from "prom-client";
import type { Bus } from "./connection.ts";
import { type Logger, stderrLogger } from "./logger.ts";
import { busMetrics } from "./metrics.ts";
import { CONSUMER_NAMES, CONSUMERS, type ConsumerName } from "./topology.ts";

export type LagCollector = {
  /** Reads consumer and DEADLETTER state once into the gauges. */
  collect(): Promise<void>;
  stop(): void;
};

/**
 * Consumer lag for dashboards and the HPA (docs/internals.md gauges). Consumer state lives on the
 * server, so any replica (or the admin service alone) can report it; values are the same from all.
 */
export function startLagCollector(
  bus: Bus,
  options: { intervalMs?: number; consumers?: ConsumerName[]; registry?: Registry; logger?: Logger } = {},
): LagCollector {
  const metrics = busMetrics(options.registry ?? bus.registry);
  const log = options.logger ?? stderrLogger;
  const consumers = options.consumers ?? CONSUMER_NAMES;

  async function collect(): Promise<void> {
    if (!metrics) return;
    await Promise.all(
      consumers.map(async (consumer) => {
        const stream = CONSUMERS[consumer].stream;
        try {
          const info = await bus.jsm.consumers.info(bus.names.stream(stream), consumer);
          const labels = { stream, consumer };
          metrics.consumerPending.set(labels, info.num_pending);
          metrics.consumerAckPending.set(labels, info.num_ack_pending);
          metrics.consumerRedelivered.set(labels, info.num_redelivered);
        } catch (err) {
          log.debug("lag: consumer info unavailable", { stream, consumer, err });
        }
      }),
    );
    try {
      const dl = await bus.jsm.streams.info(bus.names.stream("DEADLETTER"));
      metrics.deadLetters.set(dl.state.messages);
    } catch (err) {
      log.debug("lag: DEADLETTER info unavailable", { err });
    }
  }

  const timer = setInterval(() => {
    collect().catch((err) => log.warn("lag: collect failed", { err }));
  }, options.intervalMs ?? 15_000);
  void collect().catch(() => {});

  return {
    collect,
    stop: () => clearInterval(timer),
  };
}
