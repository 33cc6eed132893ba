import { context, propagation } from "@opentelemetry/api";
import { clickTimeOf } from "@roundtrip/clickid";
import { type CommissionBooked, type ConversionPlatform, PLATFORM_RULES } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";
import { buildRequest, type DestinationConfig } from "@roundtrip/outbound";

/** How one of our events becomes a platform event; `value` says which amount is sent as its value. */
export type EventMapping = { name: string; value?: "amount" | "payout" | "none" };

type Destination = DestinationConfig & {
  id: string;
  events: Record<string, EventMapping>;
  send_on: "booked" | "approved";
  click_id_sub: string | null;
  event_source_url: string | null;
  status: "active" | "disabled";
  disabled_reason: string | null;
};

/**
 * Turns a settled conversion change into one delivery per ad-platform destination that maps its
 * event (inside the caller's transaction, like the affiliate postback's plan). A conversion is
 * forwarded once per destination — at the first change that qualifies (booked: pending or
 * approved; or approved only) — unique by (conversion, destination), so a redelivered or
 * replayed event, or a later status change, plans nothing new. A rejected or reversed conversion,
 * and a test conversion, is never forwarded.
 *
 * The payload is rendered now and stored: every retry and replay sends the same bytes, so the
 * platform's dedup key (event_id / transactionId) cannot drift. What cannot be sent (older than
 * the platform accepts, nothing to match it by) is recorded as `skipped` with the reason.
 *
 * Of several destinations for the same platform account, the offer's own wins over the brand's.
 */
export async function planPlatformDeliveries(tx: Tx, c: CommissionBooked): Promise<number> {
  if (c.status !== "pending" && c.status !== "approved") return 0;
  const destinations = await tx<Destination[]>`
    select distinct on (platform, platform_account)
      id, platform, platform_account, login_account, test_event_code, base_url, events, send_on, click_id_sub,
      event_source_url, status, disabled_reason
    from conversion_destinations
    where brand_id = ${c.brand_id} and (offer_id is null or offer_id = ${c.offer_id})
      and events ? ${c.event}
      and (status = 'active' or disabled_reason in ('gone', 'failing'))
    order by platform, platform_account, (offer_id is not null) desc, id`;
  const due = destinations.filter((d) => d.send_on === "booked" || c.status === "approved");
  if (!due.length) return 0;
  const [conversion] = await tx<
    {
      is_test: boolean;
      ip: string | null;
      user_agent: string | null;
      subs: Record<string, string> | null;
      clicked_at: Date;
      destination_url: string | null;
    }[]
  >`
    select c.is_test, c.ip, c.user_agent, c.subs, c.clicked_at, o.destination_url
    from conversions c left join offers o on o.id = c.offer_id where c.id = ${c.conversion_id}`;
  if (!conversion || conversion.is_test) return 0;
  // The click row (its second of one partition, as plan.ts reads it), else what attribution
  // copied onto the conversion when the click arrived.
  const clickedAt = clickTimeOf(c.click_id);
  const [click] = await tx<{ ip: string | null; user_agent: string | null; subs: Record<string, string> }[]>`
    select ip, user_agent, subs from clicks
    where ${clickedAt !== null} and click_id = ${c.click_id}
      and clicked_at >= ${clickedAt ?? new Date(0)} and clicked_at < ${new Date((clickedAt?.getTime() ?? 0) + 1000)}
    limit 1`;
  const subs = click?.subs ?? conversion.subs ?? {};
  const trace: Record<string, string> = {};
  propagation.inject(context.active(), trace);
  let planned = 0;
  for (const d of due) {
    const mapping = d.events[c.event] as EventMapping;
    const valueSource = mapping.value ?? "amount";
    const value = valueSource === "amount" ? c.amount : valueSource === "payout" ? c.payout : null;
    const eventId = c.txid ?? `rt_${c.conversion_id}`;
    const request = buildRequest(d, {
      eventId,
      eventName: mapping.name,
      eventTime: new Date(c.occurred_at),
      clickTime: clickedAt ?? conversion.clicked_at,
      clickId: c.click_id,
      adClickId: subs[d.click_id_sub ?? PLATFORM_RULES[d.platform as ConversionPlatform].clickParam] ?? null,
      gbraid: subs.gbraid ?? null,
      wbraid: subs.wbraid ?? null,
      ip: click?.ip ?? conversion.ip,
      userAgent: click?.user_agent ?? conversion.user_agent,
      value,
      currency: c.currency,
      sourceUrl: d.event_source_url ?? landingPage(conversion.destination_url),
    });
    const disabled = d.status !== "active";
    const status = "skip" in request ? "skipped" : disabled ? "dead" : "pending";
    const reason =
      "skip" in request ? request.skip : disabled ? `endpoint disabled (${d.disabled_reason})` : null;
    const url = "skip" in request ? platformUrl(d) : request.url;
    const rows = await tx`
      insert into deliveries (conversion_id, change_seq, destination_id, method, url, body, content_type, status,
                              dead_at, last_error, platform_event_id, send_before, trace_context)
      values (${c.conversion_id}, ${c.seq}, ${d.id}, 'POST', ${url}, ${"skip" in request ? null : request.body},
              'application/json', ${status}, ${status === "pending" ? null : new Date()}, ${reason}, ${eventId},
              ${request.sendBefore}, ${tx.json(trace)})
      on conflict (conversion_id, destination_id) where destination_id is not null do nothing
      returning id`;
    if (status === "pending") planned += rows.length;
  }
  return planned;
}

/** The offer's landing page without its query (macros, tracking parameters): where the event happened. */
function landingPage(template: string | null): string | null {
  if (!template) return null;
  const cut = template.split(/[?#{]/)[0] ?? "";
  return /^https?:\/\/[^/]+/.test(cut) ? cut : null;
}

/** Where a skipped delivery would have gone (the row keeps an endpoint like every delivery). */
function platformUrl(d: DestinationConfig): string {
  return (d.base_url ?? PLATFORM_RULES[d.platform].baseUrl).replace(/\/+$/, "");
}
