import { maskUrl } from "@roundtrip/contracts";
import type { Sql, Tx } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";

/** Deliveries are shown with secrets in their URL masked, as in the attempt log. */
export function deliveryView<T extends Record<string, unknown>>(row: T): T {
  return { ...row, url: typeof row.url === "string" ? maskUrl(row.url) : row.url };
}

const REPLAYABLE = ["dead", "failed"];

/**
 * Puts dead-lettered (or failed) deliveries back in the queue with a fresh retry cycle. The
 * row keeps its id, so the affiliate sees the same `webhook-id` and can drop a repeat. An
 * endpoint that is disabled must be enabled first.
 */
export async function replay(
  tx: Tx,
  where: {
    id?: string;
    templateId?: string;
    affiliateId?: string | null;
    destinationId?: string;
    webhookId?: string;
  },
) {
  const rows = await tx<
    {
      id: string;
      status: string;
      template_status: string;
      disabled_reason: string | null;
      webhook_id: string | null;
      destination_id: string | null;
    }[]
  >`
    select d.id, d.status, coalesce(t.status, cd.status, w.status) as template_status,
      coalesce(t.disabled_reason, cd.disabled_reason, w.disabled_reason) as disabled_reason,
      d.webhook_id, d.destination_id
    from deliveries d
      left join affiliate_postbacks t on t.id = d.template_id
      left join conversion_destinations cd on cd.id = d.destination_id
      left join operator_webhooks w on w.id = d.webhook_id
    where d.status in ${tx(REPLAYABLE)}
      ${where.id ? tx`and d.id = ${where.id}` : tx``}
      ${where.templateId ? tx`and d.template_id = ${where.templateId}` : tx``}
      ${where.destinationId ? tx`and d.destination_id = ${where.destinationId}` : tx``}
      ${where.webhookId ? tx`and d.webhook_id = ${where.webhookId}` : tx``}
      ${where.affiliateId ? tx`and d.affiliate_id = ${where.affiliateId}` : tx``}
    order by d.id
    limit 10000
    for update of d`;
  const blocked = rows.find((r) => r.template_status !== "active");
  if (blocked && where.id) {
    throw new HttpError(
      409,
      "endpoint_disabled",
      `the endpoint is disabled (${blocked.disabled_reason ?? "operator"}); enable it first: PATCH /v1/${
        blocked.webhook_id
          ? "operator-webhooks"
          : blocked.destination_id
            ? "conversion-destinations"
            : "affiliate-postbacks"
      }/:id {"status":"active"}`,
    );
  }
  const ids = rows.filter((r) => r.template_status === "active").map((r) => r.id);
  if (ids.length) {
    await tx`
      update deliveries set status = 'pending', cycle_attempts = 0, next_attempt_at = now(), dead_at = null,
        replays = replays + 1
      where id in ${tx(ids)}`;
    await tx`select pg_notify('roundtrip_deliveries', '')`;
  }
  return { replayed: ids, skipped_disabled: rows.length - ids.length };
}

export async function replayable(sql: Sql, id: string, affiliateId: string | null) {
  const [row] = await sql<{ status: string }[]>`
    select status from deliveries where id = ${id} ${affiliateId ? sql`and affiliate_id = ${affiliateId}` : sql``}`;
  if (!row) throw new HttpError(404, "not_found", "no such delivery", "id");
  if (!REPLAYABLE.includes(row.status)) {
    throw new HttpError(
      409,
      "not_replayable",
      `a ${row.status} delivery cannot be replayed; only dead or failed ones`,
    );
  }
}

/**
 * "Retry now": a pending delivery waiting for its next scheduled attempt is made due at once
 * (the endpoint was fixed; no need to wait out the backoff). Its retry cycle is unchanged, so
 * the schedule still ends in a dead letter if the endpoint keeps failing. Only a row whose latest
 * attempt finished is moved: one being sent right now (claimed, its attempt not yet recorded —
 * the claim bumps `attempts` before the attempt row exists) is left to its sender, so retrying
 * never sends the same delivery twice at once.
 */
export async function retryNow(tx: Tx, id: string, affiliateId: string | null) {
  const [row] = await tx<{ status: string; template_status: string; disabled_reason: string | null }[]>`
    select d.status, coalesce(t.status, cd.status) as template_status,
      coalesce(t.disabled_reason, cd.disabled_reason) as disabled_reason
    from deliveries d
      left join affiliate_postbacks t on t.id = d.template_id
      left join conversion_destinations cd on cd.id = d.destination_id
    where d.id = ${id} ${affiliateId ? tx`and d.affiliate_id = ${affiliateId}` : tx``}`;
  if (!row) throw new HttpError(404, "not_found", "no such delivery", "id");
  if (row.status !== "pending")
    throw new HttpError(
      409,
      "not_retryable",
      `a ${row.status} delivery is not waiting for a retry${REPLAYABLE.includes(row.status) ? "; replay it instead" : ""}`,
    );
  if (row.template_status !== "active")
    throw new HttpError(
      409,
      "endpoint_disabled",
      `the endpoint is disabled (${row.disabled_reason ?? "operator"}); enable it first`,
    );
  const moved = await tx`
    update deliveries d set next_attempt_at = now()
    where d.id = ${id} and d.status = 'pending' and d.next_attempt_at > now()
      and (d.attempts = 0 or exists (
        select 1 from delivery_attempts a
        where a.delivery_id = d.id and a.attempt = d.attempts and a.outcome not in ('started', 'interrupted')))
    returning d.id`;
  if (moved.length === 0)
    throw new HttpError(409, "not_retryable", "the delivery is being sent or already due; reload it");
  await tx`select pg_notify('roundtrip_deliveries', '')`;
}
