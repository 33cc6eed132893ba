import type { Bus } from "./connection.ts";
import type { Subject } from "./topology.ts";

/**
 * A plain (core NATS) subscription on a logical subject, for signals where missing one is
 * harmless — cache invalidation. Returns the unsubscribe function. Work that must not be lost
 * goes through a durable consumer instead.
 */
export function subscribe(
  bus: Bus,
  subject: Subject | string,
  onMessage: (subject: string) => void,
): () => void {
  const sub = bus.nc.subscribe(bus.names.subject(subject), {
    callback: (err, msg) => {
      if (!err) onMessage(bus.names.logical(msg.subject));
    },
  });
  return () => sub.unsubscribe();
}
