import { context, propagation } from "@opentelemetry/api";
import { clickTimeOf } from "@roundtrip/clickid";
import { type BodyContentType, type CommissionBooked, renderBody, renderUrl } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";

type Template = {
  id: string;
  method: "GET" | "POST";
  url_template: string;
  body_template: string | null;
  content_type: BodyContentType;
  status: "active" | "disabled";
  disabled_reason: "operator" | "gone" | "failing" | null;
};

/**
 * Turns a settled conversion change into a delivery row (inside the caller's transaction): the
 * affiliate's most specific template — offer and event, then offer, then event, then global —
 * rendered with the contract's macros. Unique per (conversion, change, template), so a
 * redelivered or replayed event plans nothing new: exactly one postback per status change.
 *
 * A template an operator disabled is skipped (a less specific one may apply); one the sender
 * disabled (410 Gone, failing for days) still gets its row, dead-lettered at once, so nothing
 * is lost and it can be replayed when the endpoint is enabled again.
 *
 * Returns how many rows are now due to be sent (0 for a repeat or a disabled endpoint).
 */
export async function planDeliveries(tx: Tx, c: CommissionBooked): Promise<number> {
  // The affiliate's template, the click's sub IDs and the brand's slug in one statement. The sub
  // IDs are the click row's, or — when attribution credited the conversion before the click was
  // stored — the ones it copied onto the conversion once the click arrived. The click ID carries
  // the click's second, so the lookup probes that second of one partition, not every partition.
  const clickedAt = clickTimeOf(c.click_id);
  const [found] = await tx<
    { template: Template | null; subs: Record<string, string>; brand: string | null }[]
  >`
    select
      (select to_jsonb(t) from (
         select id::text as id, method, url_template, body_template, content_type, status, disabled_reason
         from affiliate_postbacks
         where affiliate_id = ${c.affiliate_id}
           and (status = 'active' or disabled_reason in ('gone', 'failing'))
           and (offer_id is null or offer_id = ${c.offer_id})
           and (event is null or event = ${c.event})
         order by (offer_id is not null) desc, (event is not null) desc, affiliate_postbacks.id
         limit 1) t) as template,
      coalesce(
        (select subs from clicks
         where ${clickedAt !== null} and click_id = ${c.click_id}
           and clicked_at >= ${clickedAt ?? new Date(0)} and clicked_at < ${new Date((clickedAt?.getTime() ?? 0) + 1000)}
         limit 1),
        (select subs from conversions where id = ${c.conversion_id}),
        '{}'::jsonb) as subs,
      (select slug from brands where id = ${c.brand_id}) as brand`;
  const template = found?.template;
  if (!template) return 0;
  const click = { subs: found.subs };
  const brand = found.brand === null ? undefined : { slug: found.brand };
  // A rule's or reviewer's reason (conversion_reviews), else the rejection's own history reason.
  const [rejection] =
    c.status === "rejected"
      ? await tx<{ reason: string | null }[]>`
          select coalesce(
            (select reject_reason from conversion_reviews where conversion_id = ${c.conversion_id}),
            (select reason from conversion_history where conversion_id = ${c.conversion_id} and status = 'rejected'
             order by seq desc limit 1)) as reason`
      : [];
  const values = {
    click_id: c.click_id,
    txid: c.txid,
    conversion_id: c.conversion_id,
    event: c.event,
    status: c.status,
    payout: c.payout,
    currency: c.currency,
    amount: c.amount,
    offer_id: c.offer_id,
    affiliate_id: c.affiliate_id,
    brand: brand?.slug ?? null,
    timestamp: Math.floor(new Date(c.occurred_at).getTime() / 1000),
    reject_reason: rejection?.reason ?? null,
    ...Object.fromEntries(
      Array.from({ length: 10 }, (_, i) => [`sub${i + 1}`, click?.subs[`sub${i + 1}`] ?? null]),
    ),
  };
  const url = renderUrl(template.url_template, values);
  const post = template.method === "POST";
  const body = post ? renderBody(template.body_template, values, template.content_type) : null;
  const disabled = template.status !== "active";
  // Runs inside the consumer span: the send, later and maybe elsewhere, continues this trace.
  const trace: Record<string, string> = {};
  propagation.inject(context.active(), trace);
  const rows = await tx`
    insert into deliveries (conversion_id, change_seq, template_id, affiliate_id, method, url, body, content_type,
                            status, dead_at, last_error, trace_context)
    values (${c.conversion_id}, ${c.seq}, ${template.id}, ${c.affiliate_id}, ${template.method}, ${url}, ${body},
            ${post ? template.content_type : null}, ${disabled ? "dead" : "pending"}, ${disabled ? new Date() : null},
            ${disabled ? `endpoint disabled (${template.disabled_reason})` : null}, ${tx.json(trace)})
    on conflict (conversion_id, change_seq, template_id) do nothing
    returning id`;
  // No NOTIFY here: PostgreSQL serialises the commits of notifying transactions on one global
  // lock. The caller wakes its own sender after the commit; other replicas' senders poll.
  return disabled ? 0 : rows.length;
}
