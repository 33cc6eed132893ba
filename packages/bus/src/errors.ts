import { JetStreamApiError } from "@nats-io/jetstream";

/**
 * A failure that no retry can fix (the payload is invalid, it refers to something that will never
 * exist): the consume loop dead-letters it on the first delivery instead of burning the retries.
 * Anything else thrown by a handler is treated as transient and retried on the consumer's backoff.
 */
export class PermanentError extends Error {
  override readonly name = "PermanentError";
  /** Stable, machine-readable reason (`invalid_payload`, `unknown_offer`, …); goes into the dead letter. */
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

// A name check as well as instanceof: two copies of this module (or an error rebuilt across a
// boundary) must still be recognised.
export function isPermanent(err: unknown): err is PermanentError {
  return (
    err instanceof PermanentError || (err instanceof Error && err.name === "PermanentError" && "code" in err)
  );
}

/** Raised by `replayDeadLetter` for a sequence that is not (or no longer) in DEADLETTER. */
export class DeadLetterNotFoundError extends Error {
  override readonly name = "DeadLetterNotFoundError";
  readonly code = "dead_letter_not_found";

  constructor(
    readonly seq: number,
    options?: ErrorOptions,
  ) {
    super(`no dead letter with sequence ${seq}`, options);
  }
}

export function isDeadLetterNotFound(err: unknown): err is DeadLetterNotFoundError {
  return err instanceof Error && err.name === "DeadLetterNotFoundError";
}

// JetStream API codes: the stream or the durable consumer does not exist (any more).
const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

/**
 * The broker answers but our topology is gone: a stream or consumer not found, or a publish that
 * no stream listens to (nats.js reports the server's "no responders" as JetStreamNotEnabled). What
 * a broker restarted with an empty store looks like; re-provisioning is the cure, not a backoff.
 */
export function isTopologyMissing(err: unknown): boolean {
  // The client's error classes are not exported (only their names are stable): a not-found is a
  // JetStreamApiError with the server's code, a publish nobody stores is named JetStreamNotEnabled.
  if (err instanceof JetStreamApiError)
    return err.code === STREAM_NOT_FOUND || err.code === CONSUMER_NOT_FOUND;
  if (err instanceof Error && err.name === "JetStreamNotEnabled") return true;
  return false;
}
