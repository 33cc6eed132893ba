import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/**
 * The bus's series (docs/internals.md), created lazily once per registry and never in prom-client's
 * global registry: each process passes its own, and tests get isolated counts.
 */
export type BusMetrics = ReturnType<typeof create>;

const byRegistry = new WeakMap<Registry, BusMetrics>();

export function busMetrics(registry: Registry | undefined): BusMetrics | undefined {
  if (!registry) return undefined;
  let m = byRegistry.get(registry);
  if (!m) {
    m = create(registry);
    byRegistry.set(registry, m);
  }
  return m;
}

// get-or-create: another module (or another package) may already have declared the same series.
function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]) {
  return (
    (registry.getSingleMetric(name) as Counter<L> | undefined) ??
    new Counter<L>({ name, help, labelNames, registers: [registry] })
  );
}

function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]) {
  return (
    (registry.getSingleMetric(name) as Gauge<L> | undefined) ??
    new Gauge<L>({ name, help, labelNames, registers: [registry] })
  );
}

function create(registry: Registry) {
  return {
    consumed: counter(
      registry,
      "roundtrip_bus_messages_consumed_total",
      "Messages settled by consumers, by outcome",
      ["stream", "consumer", "outcome"],
    ),
    handlerDuration:
      (registry.getSingleMetric("roundtrip_bus_handler_duration_seconds") as
        | Histogram<"consumer">
        | undefined) ??
      new Histogram<"consumer">({
        name: "roundtrip_bus_handler_duration_seconds",
        help: "Time from delivery to settlement of a message, handler included",
        labelNames: ["consumer"],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers: [registry],
      }),
    published: counter(
      registry,
      "roundtrip_bus_published_total",
      "Messages acknowledged by JetStream on publish",
      ["stream"],
    ),
    consumerPending: gauge(
      registry,
      "roundtrip_bus_consumer_pending_messages",
      "Messages not yet delivered",
      ["stream", "consumer"],
    ),
    consumerAckPending: gauge(
      registry,
      "roundtrip_bus_consumer_ack_pending_messages",
      "Messages delivered and not yet acknowledged",
      ["stream", "consumer"],
    ),
    consumerRedelivered: gauge(
      registry,
      "roundtrip_bus_consumer_redelivered_messages",
      "Messages being redelivered",
      ["stream", "consumer"],
    ),
    deadLetters: gauge(registry, "roundtrip_bus_dead_letter_messages", "Messages waiting in DEADLETTER", []),
    outboxBacklog: gauge(registry, "roundtrip_outbox_backlog_messages", "Outbox rows not yet published", []),
    outboxOldestAge: gauge(
      registry,
      "roundtrip_outbox_oldest_age_seconds",
      "Age of the oldest unpublished outbox row (0 when empty)",
      [],
    ),
    outboxOwed: gauge(
      registry,
      "roundtrip_outbox_owed_messages",
      "Outbox events not yet handled by every consumer of their stream (published or not)",
      ["stream"],
    ),
    outboxOwedOldestAge: gauge(
      registry,
      "roundtrip_outbox_owed_oldest_age_seconds",
      "Age of the oldest owed outbox event (0 when none)",
      ["stream"],
    ),
    outboxOwedParked: gauge(
      registry,
      "roundtrip_outbox_owed_parked_messages",
      "Owed outbox events waiting for a dead letter's replay (dead-lettered by every consumer still missing them)",
      ["stream"],
    ),
    outboxRepublished: counter(
      registry,
      "roundtrip_outbox_republished_total",
      "Owed outbox events the broker had lost and the reconciler published again",
      ["stream"],
    ),
  };
}
