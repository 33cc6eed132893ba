import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import type { Bus } from "./connection.ts";
import {
  CONSUMER_NAMES,
  type ConsumerName,
  consumerDef,
  type Names,
  STREAM_KEYS,
  type StreamKey,
  streamDef,
  type TopologyOverrides,
} from "./topology.ts";

// Server error codes that mean "exists with another config": update it instead.
const STREAM_NAME_IN_USE = 10058;
const CONSUMER_ALREADY_EXISTS = 10148; // 2.10+ with action=create; 2.9 upserts silently
const CONSUMER_NAME_EXISTS = 10013;
// "error creating store for stream": nats-server 2.9 races creating a file store against removing
// the account's last stream directory (seen when streams are deleted and created concurrently).
const STREAM_STORE_FAILED = 10077;

export type StreamSpec = Partial<StreamConfig> & { name: string };

export function streamConfig(ns: Names, key: StreamKey, overrides?: TopologyOverrides): StreamSpec {
  const def = streamDef(key, overrides);
  return {
    name: ns.stream(key),
    description: def.description,
    subjects: ns.streamSubjects(key),
    retention: RetentionPolicy.Limits,
    storage: def.storage === "file" ? StorageType.File : StorageType.Memory,
    max_age: nanos(def.maxAgeMs),
    max_bytes: def.maxBytes,
    max_msgs: def.maxMsgs,
    max_msg_size: def.maxMsgSize,
    discard: def.discard === "new" ? DiscardPolicy.New : DiscardPolicy.Old,
    duplicate_window: nanos(def.duplicateWindowMs),
    num_replicas: overrides?.replicas ?? 1,
    // deny_delete stays off: replayDeadLetter deletes what it replays.
  };
}

export function consumerConfig(name: ConsumerName, overrides?: TopologyOverrides): Partial<ConsumerConfig> {
  const def = consumerDef(name, overrides);
  const backoff = def.backoffMs.map((ms) => nanos(ms));
  return {
    durable_name: name,
    description: def.description,
    ack_policy: AckPolicy.Explicit,
    // The server replaces ack_wait with backoff[0]; saying so explicitly keeps the stored config
    // equal to ours, so re-provisioning is a no-op rather than an update.
    ack_wait: backoff[0],
    backoff,
    max_deliver: def.maxDeliver,
    max_ack_pending: def.maxAckPending,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
  };
}

export type ProvisionResult = { streams: string[]; consumers: string[] };

/**
 * Creates or updates every stream and durable consumer. Safe to run from every replica at start-up
 * and from a Helm hook at the same time: creating an identical definition is a no-op on the server,
 * and "exists with a different config" turns into an update.
 */
export async function provision(
  bus: Bus,
  options: { overrides?: TopologyOverrides } = {},
): Promise<ProvisionResult> {
  const { overrides } = options;
  await Promise.all(STREAM_KEYS.map((key) => upsertStream(bus, streamConfig(bus.names, key, overrides))));
  await Promise.all(
    CONSUMER_NAMES.map((name) =>
      upsertConsumer(
        bus,
        bus.names.stream(consumerDef(name, overrides).stream),
        consumerConfig(name, overrides),
      ),
    ),
  );
  return {
    streams: STREAM_KEYS.map((k) => bus.names.stream(k)),
    consumers: [...CONSUMER_NAMES],
  };
}

async function upsertStream(bus: Bus, cfg: StreamSpec, attempt = 1): Promise<void> {
  try {
    await bus.jsm.streams.add(cfg);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === STREAM_STORE_FAILED && attempt < 4) {
      await Bun.sleep(100 * attempt);
      return upsertStream(bus, cfg, attempt + 1);
    }
    if (!(err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE)) throw err;
    // Storage type and retention cannot change in place; the server says so and we let it surface.
    const { name, storage: _s, retention: _r, ...changeable } = cfg;
    await bus.jsm.streams.update(name, changeable);
  }
}

async function upsertConsumer(bus: Bus, stream: string, cfg: Partial<ConsumerConfig>): Promise<void> {
  try {
    await bus.jsm.consumers.add(stream, cfg);
  } catch (err) {
    const exists =
      err instanceof JetStreamApiError &&
      (err.code === CONSUMER_ALREADY_EXISTS || err.code === CONSUMER_NAME_EXISTS);
    if (!exists) throw err;
    const { durable_name, ack_policy: _a, deliver_policy: _d, replay_policy: _r, ...changeable } = cfg;
    await bus.jsm.consumers.update(stream, durable_name as string, changeable);
  }
}
