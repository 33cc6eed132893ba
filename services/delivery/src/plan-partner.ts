import { context, propagation } from "@opentelemetry/api";
import { type PartnerEvent, renderUrl } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";

/**
 * Turns a partner event (payout.paid, payout.failed, statement.ready) into a delivery row per
 * template of the affiliate that lists the event in `partner_events`, and per operator webhook
 * subscribed to it — inside the caller's transaction, unique per (event id, template or webhook),
 * so a redelivered or replayed event plans nothing new. From there the row is sent like any postback: signed with the affiliate's secrets,
 * retried, logged, dead-lettered and replayable. A POST carries the standard body
 * `{"type":"payout.paid","timestamp":…,"data":{…}}` as JSON; a GET gets the data as URL macros
 * (`{affiliate_id}`, `{payout}`, `{currency}`, `{status}`, `{event}`, `{timestamp}`). An operator
 * webhook always gets the POST, signed with the webhook's own secrets.
 */
export async function planPartnerDeliveries(tx: Tx, e: PartnerEvent): Promise<number> {
  const templates = await tx<
    {
      id: string;
      method: "GET" | "POST";
      url_template: string;
      status: string;
      disabled_reason: string | null;
    }[]
  >`
    select id, method, url_template, status, disabled_reason from affiliate_postbacks
    where affiliate_id = ${e.affiliate_id} and ${e.type} = any(partner_events)
      and (status = 'active' or disabled_reason in ('gone', 'failing'))
    order by id`;
  const values = {
    affiliate_id: e.affiliate_id,
    event: e.type,
    status: e.type,
    payout: e.data.amount ?? null,
    currency: e.data.currency ?? null,
    timestamp: Math.floor(new Date(e.occurred_at).getTime() / 1000),
  };
  const body = JSON.stringify({
    type: e.type,
    timestamp: e.occurred_at,
    data: { ...e.data, affiliate_id: e.affiliate_id },
  });
  const trace: Record<string, string> = {};
  propagation.inject(context.active(), trace);
  let planned = 0;
  for (const template of templates) {
    const post = template.method === "POST";
    const disabled = template.status !== "active";
    const rows = await tx`
      insert into deliveries (event_id, template_id, affiliate_id, method, url, body, content_type, status, dead_at,
                              last_error, trace_context)
      values (${e.id}, ${template.id}, ${e.affiliate_id}, ${template.method}, ${renderUrl(template.url_template, values)},
              ${post ? body : null}, ${post ? "application/json" : null}, ${disabled ? "dead" : "pending"},
              ${disabled ? new Date() : null}, ${disabled ? `endpoint disabled (${template.disabled_reason})` : null},
              ${tx.json(trace)})
      on conflict (event_id, template_id) where event_id is not null do nothing
      returning id`;
    planned += rows.length;
  }
  const webhooks = await tx<{ id: string; url: string; status: string; disabled_reason: string | null }[]>`
    select id, url, status, disabled_reason from operator_webhooks
    where ${e.type} = any(events) and (status = 'active' or disabled_reason in ('gone', 'failing'))
    order by id`;
  for (const w of webhooks) {
    const disabled = w.status !== "active";
    const rows = await tx`
      insert into deliveries (event_id, webhook_id, method, url, body, content_type, status, dead_at, last_error, trace_context)
      values (${e.id}, ${w.id}, 'POST', ${w.url}, ${body}, 'application/json', ${disabled ? "dead" : "pending"},
              ${disabled ? new Date() : null}, ${disabled ? `endpoint disabled (${w.disabled_reason})` : null},
              ${tx.json(trace)})
      on conflict (event_id, webhook_id) where webhook_id is not null do nothing
      returning id`;
    planned += rows.length;
  }
  // No NOTIFY inside the transaction (plan.ts says why): the caller wakes its sender after the commit.
  return planned;
}
