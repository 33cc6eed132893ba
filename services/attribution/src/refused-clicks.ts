import { type Bus, type Delivery, deadLetter } from "@roundtrip/bus";
import type { ClicksRecorded } from "@roundtrip/contracts";
import type { Logger, Registry } from "@roundtrip/telemetry";
import type { RefusedClick } from "./click-store.ts";

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
      headers: undefined,
      reason: "permanent",
      errorCode: refused[0]?.error.code ?? "row_refused",
      error: refused.map((r) => `${r.click.click_id}: ${r.error.message}`).join("; "),
    },
    options.registry,
  );
}
