import type { Bus } from "./connection.ts";
import { CONSUMERS, type ConsumerName } from "./topology.ts";

/**
 * How far a durable consumer has got, as a time: every message its stream stored before the
 * returned instant has been acknowledged by the consumer (handled and committed, or dead-lettered).
 * Null when that cannot be said (nothing acknowledged yet, the consumer or the floor message gone).
 *
 * Caught up (nothing pending, nothing unacknowledged): everything stored before the question was
 * asked — `askedAt`, on the caller's clock. Otherwise the ack floor (every sequence up to it is
 * acknowledged) gives the stream's own time of its message: everything stored earlier has a
 * lower sequence. That time is the server's clock; callers comparing it with another clock keep
 * a margin.
 */
export async function acknowledgedBefore(
  bus: Bus,
  consumer: ConsumerName,
  askedAt: Date,
): Promise<Date | null> {
  const stream = bus.names.stream(CONSUMERS[consumer].stream);
  const info = await bus.jsm.consumers.info(stream, consumer);
  if (info.num_pending === 0 && info.num_ack_pending === 0) return askedAt;
  const floor = info.ack_floor.stream_seq;
  if (floor <= 0) return null;
  const stored = await bus.jsm.streams.getMessage(stream, { seq: floor }).catch(() => null);
  return stored ? stored.time : null;
}
