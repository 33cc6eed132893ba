/**
 * The one place that names streams, subjects and durable consumers (docs/internals.md).
 * Services never spell a subject or stream string: they call `subjects.*` and pass consumer names,
 * and the bus applies the `BUS_PREFIX` namespace, so tests and parallel stacks never collide.
 */

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export type StreamKey =
  | "CLICKS"
  | "POSTBACKS"
  | "CONVERSIONS"
  | "COMMISSIONS"
  | "PARTNERS"
  | "CONFIG"
  | "DEADLETTER";

export type StreamDef = {
  description: string;
  /** Subject templates; `{name}` is one token (a `*` in the stream's subject filter). */
  subjects: readonly string[];
  storage: "file" | "memory";
  maxAgeMs: number;
  /**
   * -1 = unlimited. Event streams are bounded by age; a deployment that sets a byte limit gets
   * back-pressure (see `discard`) rather than loss.
   */
  maxBytes: number;
  maxMsgs: number;
  maxMsgSize: number;
  duplicateWindowMs: number;
  /**
   * "new" refuses publishes when full, so the outbox keeps the event and retries (back-pressure);
   * "old" silently drops the oldest, acceptable only where losing history is harmless.
   */
  discard: "new" | "old";
};

const DUPLICATE_WINDOW_MS = 2 * MINUTE;
const MAX_MSG_SIZE = 1024 * 1024;

// Event streams keep a week: long enough to replay after an outage of a consumer, short enough
// that the broker stays a transport (PostgreSQL is the record).
const eventStream = (description: string, subjects: string[]): StreamDef => ({
  description,
  subjects,
  storage: "file",
  maxAgeMs: 7 * DAY,
  maxBytes: -1,
  maxMsgs: -1,
  maxMsgSize: MAX_MSG_SIZE,
  duplicateWindowMs: DUPLICATE_WINDOW_MS,
  discard: "new",
});

export const STREAMS: Readonly<Record<StreamKey, StreamDef>> = {
  CLICKS: eventStream("Clicks recorded by the click service (outbox)", ["clicks.recorded"]),
  POSTBACKS: eventStream("Advertiser postbacks accepted by the gateway (outbox)", [
    "postbacks.received.{advertiser}",
  ]),
  CONVERSIONS: eventStream("Conversion changes from attribution (outbox)", ["conversions.{event}.{status}"]),
  COMMISSIONS: eventStream("Ledger bookings from commission (outbox)", ["commissions.booked"]),
  PARTNERS: eventStream("Payout and statement events for affiliates, from admin (outbox)", [
    "partners.{event}",
  ]),
  // Cache invalidation only: a missed change is healed by the caches' own refresh, so memory
  // storage and dropping the oldest are fine.
  CONFIG: {
    description: "Configuration changes for in-memory caches (ephemeral)",
    subjects: ["config.changed.{resource}"],
    storage: "memory",
    maxAgeMs: 10 * MINUTE,
    maxBytes: -1,
    maxMsgs: 100_000,
    maxMsgSize: 64 * 1024,
    duplicateWindowMs: DUPLICATE_WINDOW_MS,
    discard: "old",
  },
  // Dead letters wait for a human: keep them a month, and never drop one to make room.
  DEADLETTER: {
    description: "Messages that exhausted their deliveries or failed permanently",
    subjects: ["deadletter.{stream}.{consumer}"],
    storage: "file",
    maxAgeMs: 30 * DAY,
    maxBytes: -1,
    maxMsgs: 10_000_000,
    maxMsgSize: 2 * MAX_MSG_SIZE,
    duplicateWindowMs: DUPLICATE_WINDOW_MS,
    discard: "new",
  },
};

export const STREAM_KEYS = Object.keys(STREAMS) as StreamKey[];

export type ConsumerName =
  | "attribution-clicks"
  | "attribution-postbacks"
  | "commission-conversions"
  | "delivery-commissions"
  | "delivery-partners"
  | "reports-clicks"
  | "reports-conversions"
  | "reports-commissions";

export type ConsumerDef = {
  stream: StreamKey;
  description: string;
  /**
   * The retry schedule, delay before delivery n+1 after delivery n failed. The server uses it on
   * ack timeouts (a crashed or stuck handler) and the consume loop makes `nak` follow it too.
   * NATS uses the first step as the ack wait of the first delivery (it overrides `ack_wait`),
   * so the consume loop sends progress heartbeats while a handler runs.
   */
  backoffMs: readonly number[];
  /** Finite, so a poison message ends in DEADLETTER instead of looping. Must exceed backoffMs.length. */
  maxDeliver: number;
  /** Upper bound of unacknowledged messages across all replicas. */
  maxAckPending: number;
};

const RETRY_SCHEDULE_MS = [1 * SECOND, 5 * SECOND, 30 * SECOND, 2 * MINUTE, 10 * MINUTE] as const;

const durable = (stream: StreamKey, description: string): ConsumerDef => ({
  stream,
  description,
  backoffMs: RETRY_SCHEDULE_MS,
  maxDeliver: 8,
  maxAckPending: 1_000,
});

export const CONSUMERS: Readonly<Record<ConsumerName, ConsumerDef>> = {
  "attribution-clicks": durable("CLICKS", "attribution stores clicks"),
  "attribution-postbacks": durable("POSTBACKS", "attribution matches postbacks to clicks"),
  "commission-conversions": durable("CONVERSIONS", "commission books ledger entries"),
  "delivery-commissions": durable("COMMISSIONS", "delivery sends affiliate postbacks"),
  "delivery-partners": durable("PARTNERS", "delivery sends payout and statement events to affiliates"),
  // Admin's report rollups: each stream read a second time, independently of the event path.
  "reports-clicks": durable("CLICKS", "admin folds clicks into the report rollup"),
  "reports-conversions": durable("CONVERSIONS", "admin folds conversion changes into the report rollup"),
  "reports-commissions": durable("COMMISSIONS", "admin folds ledger bookings into the report rollup"),
};

export const CONSUMER_NAMES = Object.keys(CONSUMERS) as ConsumerName[];

/** Per-deployment (or per-test) adjustments; the shape of the topology itself never changes. */
export type TopologyOverrides = {
  streams?: Partial<Record<StreamKey, Partial<Omit<StreamDef, "subjects">>>>;
  consumers?: Partial<Record<ConsumerName, Partial<Omit<ConsumerDef, "stream">>>>;
  /** Stream replicas (R3 in a 3-node cluster). Consumers inherit the stream's. */
  replicas?: number;
};

export function streamDef(key: StreamKey, overrides?: TopologyOverrides): StreamDef {
  return { ...STREAMS[key], ...overrides?.streams?.[key] };
}

export function consumerDef(name: ConsumerName, overrides?: TopologyOverrides): ConsumerDef {
  const def = { ...CONSUMERS[name], ...overrides?.consumers?.[name] };
  if (def.backoffMs.length === 0 || def.maxDeliver <= def.backoffMs.length) {
    throw new RangeError(`consumer ${name}: needs a backoff and maxDeliver > backoff steps (server rule)`);
  }
  return def;
}

// ---------------------------------------------------------------------------------------------
// Subjects

declare const subjectBrand: unique symbol;
/** A logical (un-prefixed) subject built by `subjects.*`; the bus adds the namespace. */
export type Subject = string & { readonly [subjectBrand]: true };

// A token may not contain the separators or wildcards, or whitespace (header/protocol framing).
const TOKEN = /^[^\s.*>]+$/;

function token(value: string | number | bigint, what: string): string {
  const s = String(value);
  if (!TOKEN.test(s)) throw new TypeError(`${what} cannot be used as a subject token: ${JSON.stringify(s)}`);
  return s;
}

export const subjects = {
  clickRecorded: () => "clicks.recorded" as Subject,
  postbackReceived: (advertiserId: string | number | bigint) =>
    `postbacks.received.${token(advertiserId, "advertiser id")}` as Subject,
  conversionChanged: (event: string, status: string) =>
    `conversions.${token(event, "event")}.${token(status, "status")}` as Subject,
  commissionBooked: () => "commissions.booked" as Subject,
  /** `payout.paid` → `partners.payout_paid` (a subject token has no dots). */
  partnerEvent: (type: string) => `partners.${token(type.replace(".", "_"), "event type")}` as Subject,
  configChanged: (resource: string) => `config.changed.${token(resource, "resource")}` as Subject,
  /** Wildcard for subscribers: every configuration change. */
  configChangedAll: () => "config.changed.>" as Subject,
  deadLetter: (stream: StreamKey, consumer: string) =>
    `deadletter.${token(stream, "stream")}.${token(consumer, "consumer")}` as Subject,
};

/** Stream filter for a template: `postbacks.received.{advertiser}` → `postbacks.received.*`. */
export function templateToFilter(template: string): string {
  return template.replace(/\{[^}]+\}/g, "*");
}

function tokensMatch(template: string, subject: string): boolean {
  const t = template.split(".");
  const s = subject.split(".");
  return t.length === s.length && t.every((part, i) => part.startsWith("{") || part === s[i]);
}

/**
 * The template a logical subject was built from: low-cardinality span names
 * (`publish postbacks.received.{advertiser}`) and the stream a subject belongs to.
 */
export function describeSubject(subject: string): { stream: StreamKey; template: string } | undefined {
  for (const key of STREAM_KEYS) {
    const template = STREAMS[key].subjects.find((t) => tokensMatch(t, subject));
    if (template) return { stream: key, template };
  }
  return undefined;
}

/**
 * The stream that stores a logical subject: what an outbox row records (`bus_outbox.stream`), so
 * each stream's relay and reconciler find their rows by index. A subject no stream stores is a bug.
 */
export function streamOf(subject: Subject): StreamKey {
  const stream = describeSubject(subject)?.stream;
  if (!stream) throw new TypeError(`no stream stores subject ${JSON.stringify(subject)}`);
  return stream;
}

// ---------------------------------------------------------------------------------------------
// Namespacing

export const PREFIX_PATTERN = /^[A-Za-z0-9_]*$/;

export type Names = {
  readonly prefix: string;
  /** `CLICKS` → `p_CLICKS` */
  stream(key: StreamKey): string;
  /** logical `a.b` → wire `p.a.b` */
  subject(logical: string): string;
  /** wire `p.a.b` → logical `a.b` */
  logical(wire: string): string;
  /** Stream subject filters on the wire. */
  streamSubjects(key: StreamKey): string[];
};

export function names(prefix: string): Names {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new TypeError(`BUS_PREFIX must match ${PREFIX_PATTERN}: ${JSON.stringify(prefix)}`);
  }
  const head = prefix ? `${prefix}.` : "";
  const subject = (logical: string) => `${head}${logical}`;
  return {
    prefix,
    stream: (key) => (prefix ? `${prefix}_${key}` : key),
    subject,
    logical: (wire) => (head && wire.startsWith(head) ? wire.slice(head.length) : wire),
    streamSubjects: (key) => STREAMS[key].subjects.map((t) => subject(templateToFilter(t))),
  };
}
