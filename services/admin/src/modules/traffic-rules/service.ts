import { THRESHOLD_UNIT } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import type { TrafficRulePut } from "./model.ts";

/**
 * Creates the rule for its scope (offer or program, reason, event) or replaces the one there.
 * Returns the row before (null when new) and after, for the audit entry.
 */
export async function putRule(
  tx: Tx,
  body: TrafficRulePut,
): Promise<{ before: Record<string, unknown> | null; after: Record<string, unknown> }> {
  const offerId = body.offer_id ?? null;
  const event = body.event ?? null;
  const threshold = body.threshold ?? null;
  if (event !== null && !body.reason.startsWith("ctit_"))
    throw new HttpError(
      400,
      "invalid_request",
      "event: only CTIT rules (ctit_too_fast, ctit_too_slow) apply per event",
      "event",
    );
  if (threshold !== null && !THRESHOLD_UNIT[body.reason])
    throw new HttpError(400, "invalid_request", `threshold: ${body.reason} takes no threshold`, "threshold");
  if (offerId !== null) {
    const [offer] = await tx`select id from offers where id = ${offerId}`;
    if (!offer) throw new HttpError(400, "invalid_request", "offer_id: no such offer", "offer_id");
  }
  // One writer per scope at a time, so two concurrent puts cannot both insert.
  await tx`select pg_advisory_xact_lock(hashtextextended(${`traffic-rule:${offerId ?? 0}:${body.reason}:${event ?? ""}`}, 0))`;
  const [before] = await tx`
    select * from traffic_rules
    where coalesce(offer_id, 0) = ${offerId ?? 0} and reason = ${body.reason} and coalesce(event, '') = ${event ?? ""}
    for update`;
  const enabled = body.enabled ?? true;
  const [after] = before
    ? await tx`
        update traffic_rules set threshold = ${threshold}, action = ${body.action}, enabled = ${enabled}, updated_at = now()
        where id = ${before.id} returning *`
    : await tx`
        insert into traffic_rules (offer_id, reason, event, threshold, action, enabled)
        values (${offerId}, ${body.reason}, ${event}, ${threshold}, ${body.action}, ${enabled}) returning *`;
  return { before: before ?? null, after: after as Record<string, unknown> };
}
