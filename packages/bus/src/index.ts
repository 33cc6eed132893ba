export { type Bus, type ConnectBusOptions, connectBus, ping } from "./connection.ts";
export {
  type BatchHandler,
  type Consumer,
  type ConsumeOptions,
  consume,
  type Delivery,
  type Handler,
  type RetryPolicy,
  retryPolicy,
} from "./consume.ts";
export { declareConsumers, requiredConsumers } from "./consumers.ts";
export {
  type DeadLetter,
  type DeadLetterInput,
  DeadLetterHeaders,
  deadLetter,
  type DeadLetterReason,
  listDeadLetters,
  REPLAYED_FROM_HEADER,
  replayDeadLetter,
} from "./deadletter.ts";
export { DeadLetterNotFoundError, isDeadLetterNotFound, isPermanent, PermanentError } from "./errors.ts";
export { type BatchOutcome, handleBatchOnce, handleOnce, type InboxKey, pruneInbox } from "./inbox.ts";
export { type LagCollector, startLagCollector } from "./lag.ts";
export type { Logger } from "./logger.ts";
export {
  enqueue,
  enqueueAll,
  OUTBOX_CHANNEL,
  type OutboxMessage,
  type OutboxRelay,
  type OutboxRelayOptions,
  type PreparedEvent,
  prepareEvent,
  pruneOutbox,
  startOutboxRelay,
} from "./outbox.ts";
export { acknowledgedBefore } from "./progress.ts";
export { consumerConfig, type ProvisionResult, provision, streamConfig } from "./provision.ts";
export { type PublishOptions, publish } from "./publish.ts";
export {
  CONSUMER_NAMES,
  CONSUMERS,
  type ConsumerDef,
  type ConsumerName,
  describeSubject,
  type Names,
  names,
  STREAM_KEYS,
  STREAMS,
  type StreamDef,
  type StreamKey,
  streamOf,
  type Subject,
  subjects,
  type TopologyOverrides,
} from "./topology.ts";
export { captureTraceHeaders, headerGetter, headerSetter, inMessageTrace } from "./tracing.ts";
export { subscribe } from "./subscribe.ts";
