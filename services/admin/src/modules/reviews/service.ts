import { OUTBOX_CHANNEL } from "@roundtrip/bus";
import type { ClickIdCodec } from "@roundtrip/clickid";
import type { Sql } from "@roundtrip/db";
import { loadDirectory, receive, type RequestLog } from "@roundtrip/intake";
import { audit } from "../../changes.ts";
import type { DecisionResult, ReviewDecision } from "./model.ts";

type Open = {
  conversion_id: string;
  state: string;
  reasons: string[];
  withheld_status: string | null;
  advertiser_id: string;
  click_id: string;
  txid: string | null;
  event: string;
  status: string;
  occurred_at: Date;
};

/**
 * Decides reviews in bulk. The decision is recorded (and audited) first; a status it changes —
 * a held conversion's kept-back approval, or a rejection — then goes through the gateway's own
 * intake path as the operator's report (an import row naming the conversion's txid or click and
 * its event time), so attribution applies it like any status update: history, cap places given
 * back, commission, and the affiliate's postback with `{status}` and `{reject_reason}`.
 */
export async function decide(
  deps: { sql: Sql; codec: ClickIdCodec; log: RequestLog },
  body: ReviewDecision,
  actor: string,
): Promise<DecisionResult[]> {
  const { sql } = deps;
  const results: DecisionResult[] = [];
  const reports: { c: Open; status: "approved" | "rejected" }[] = [];
  for (const id of body.conversion_ids) {
    const outcome = await sql.begin(async (tx) => {
      const [c] = await tx<Open[]>`
        select r.conversion_id::text, r.state, r.reasons, r.withheld_status, c.advertiser_id::text, c.click_id, c.txid,
               c.event, c.status, c.occurred_at
        from conversion_reviews r join conversions c on c.id = r.conversion_id
        where r.conversion_id = ${id} for update of r`;
      if (!c) return { result: "not_found" as const };
      if (c.state !== "held" && c.state !== "flagged") return { result: "already_decided" as const };
      const approve = body.decision === "approve";
      const rejectReason = approve ? null : (body.reject_reason ?? c.reasons[0] ?? "rejected_on_review");
      const [after] = await tx`
        update conversion_reviews set state = ${approve ? "approved" : "rejected"}, decided_by = ${actor}, decided_at = now(),
          reject_reason = ${rejectReason}
        where conversion_id = ${id} returning *`;
      await audit(tx, {
        actor,
        action: approve ? "review_approve" : "review_reject",
        resource: "conversions",
        id,
        before: { state: c.state, reasons: c.reasons },
        after,
      });
      const earning = c.status === "pending" || c.status === "approved";
      if (!approve && earning) return { result: "rejected" as const, report: "rejected" as const, c };
      if (approve && c.state === "held" && c.withheld_status === "approved" && c.status === "pending")
        return { result: "approved" as const, report: "approved" as const, c };
      return { result: approve ? ("approved" as const) : ("rejected" as const) };
    });
    results.push({ conversion_id: id, result: outcome.result, receipt_id: null });
    if ("report" in outcome && outcome.report && outcome.c)
      reports.push({ c: outcome.c, status: outcome.report });
  }
  if (reports.length === 0) return results;

  const [created] = await sql<{ id: string }[]>`
    insert into imports (actor, advertiser_id, filename, row_count) values (${actor}, null, 'review', ${reports.length})
    returning id`;
  const importId = (created as { id: string }).id;
  const directory = await loadDirectory(sql);
  const intake = { sql, codec: deps.codec, directory: () => directory, log: deps.log };
  let accepted = 0;
  for (const [i, { c, status }] of reports.entries()) {
    const d = await receive(intake, {
      channel: { kind: "import", importId, row: i + 1, advertiserId: c.advertiser_id, dedupScope: "review" },
      raw: {
        click_id: c.click_id,
        ...(c.txid ? { txid: c.txid } : {}),
        event: c.event,
        status,
        timestamp: c.occurred_at.toISOString(),
      },
    });
    if (d.outcome === "accepted") accepted++;
    const r = results.find((x) => x.conversion_id === c.conversion_id);
    if (r) r.receipt_id = d.receiptId;
  }
  await sql`update imports set accepted = ${accepted}, rejected = ${reports.length - accepted} where id = ${importId}`;
  if (accepted > 0) await sql`select pg_notify(${OUTBOX_CHANNEL}, '')`;
  return results;
}
