import { type Bus, type Delivery, deadLetter } from "@roundtrip/bus";
import type { ClicksRecorded } from "@roundtrip/contracts";
import type { Logger, Registry } from "@roundtrip/telemetry";
import { headers as natsHeaders } from "@nats-io/nats-core";
import type { RefusedClick } from "./click-store.ts";

/**
 * Carried by the dead letter of a batch's refused clicks (and so by its replay): the inbox key
 * attribution-clicks handles that subset under. The batch's own id is taken: its inbox row was
 * written when the rest of the batch was stored, so under it a replay would be a duplicate and
 * the refused clicks would never be stored. The dead letter keeps the batch's id as its
 * `Roundtrip-Original-Msg-Id`, so the other CLICKS consumers (reports-clicks), which handled the
 * whole batch, still see the replay as a duplicate and count nothing twice. The subset is not an
 * outbox row: the reconciler never looks for this key, it only has to be handled once.
 */
export const REFUSED_CLICKS_KEY_HEADER = "Roundtrip-Refused-Clicks-Key";

/**
 * The inbox key of a delivery to attribution-clicks: the refused-subset key when it is the replay
 * of one. Each dead-lettering gets a key of its own (the stream sequence it was refused at), so
 * a subset refused again on replay can be replayed again once the cause is fixed.
 */
export function clicksInboxKey(d: Pick<Delivery<ClicksRecorded>, "msgId" | "headers">): string {
  return d.headers[REFUSED_CLICKS_KEY_HEADER] || d.msgId;
}

/** The batch without the clicks PostgreSQL refused: what counting and enrichment go on with. */
export function withoutRefused(batch: ClicksRecorded, refused: RefusedClick[]): ClicksRecorded {
  const out = new Set(refused.map((r) => r.click));
  return { clicks: batch.clicks.filter((c) => !out.has(c)) };
}

/**
 * The refused clicks of one CLICKS message, dead-lettered on their own (a batch of just them,
 * replayable like any dead letter) while the rest of their batch is stored. Sent before the
 * batch commits: after a crash it is sent again (DEADLETTER drops the repeat by its message ID)
 * rather than lost.
 */
export async function deadLetterRefused(
  bus: Bus,
  d: Delivery<ClicksRecorded>,
  refused: RefusedClick[],
  options: { registry: Registry; logger: Logger },
): Promise<void> {
  if (refused.length === 0) return;
  options.logger.error("clicks refused by PostgreSQL: dead-lettered alone, the rest of the batch stored", {
    consumer: d.consumer,
    seq: d.streamSequence,
    refused: refused.length,
    batch: d.payload.clicks.length,
  });
  const carried = natsHeaders();
  // The same on a redelivery of this message (same sequence), new on each replay that is refused again.
  carried.set(REFUSED_CLICKS_KEY_HEADER, `${d.msgId}:refused:${d.streamSequence}`);
  await deadLetter(
    bus,
    {
      stream: d.stream,
      consumer: d.consumer,
      subject: d.subject,
      streamSequence: d.streamSequence,
      deliveryCount: d.deliveryCount,
      msgId: d.msgId,
      body: new TextEncoder().encode(JSON.stringify({ clicks: refused.map((r) => r.click) })),
      headers: carried,
      reason: "permanent",
      errorCode: refused[0]?.error.code ?? "row_refused",
      error: refused.map((r) => `${r.click.click_id}: ${r.error.message}`).join("; "),
      part: "refused",
    },
    options.registry,
  );
}
