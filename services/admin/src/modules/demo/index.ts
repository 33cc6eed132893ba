import type { ClickIdCodec } from "@roundtrip/clickid";
import { roundToCurrency } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { Decimal, EventCode } from "../common.ts";

export const DEMO_BRAND = "demo";

export type DemoDeps = {
  sql: Sql;
  codec: ClickIdCodec | null;
  /** Where admin reaches the gateway (server side). */
  gatewayUrl: string;
  /** The demo advertiser's postback token (from the seed); it never reaches the browser. */
  token: string | null;
};

const ClickId = t.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" });

/**
 * The demo brand's pages: a landing page that shows the click ID it received, with buttons that
 * fire real postbacks through the gateway (server side, with the demo advertiser's token), the
 * conversion as attribution booked it, and an affiliate endpoint that records what delivery sends
 * — so a newcomer sees the whole round trip in the browser. Only click IDs of `demo` brand links
 * are served: the page cannot be used to fire postbacks for any other advertiser.
 */
export function demo(deps: DemoDeps) {
  const received: { at: string; query: Record<string, string> }[] = [];
  const demoLink = async (clickId: string) => {
    if (!deps.codec)
      throw new HttpError(503, "unavailable", "admin has no CLICK_ID_KEYS: the demo cannot check click IDs");
    const verified = deps.codec.verify(clickId);
    if (!verified.ok)
      throw new HttpError(
        422,
        "unknown_click",
        "click_id: not a click ID issued by this tracker",
        "click_id",
      );
    const [link] = await deps.sql<{ offer_id: string; currency: string; events: string[] }[]>`
      select o.id as offer_id, o.currency, array(select code from offer_events where offer_id = o.id order by code) as events
      from links l join offers o on o.id = l.offer_id join brands b on b.id = o.brand_id
      where l.id = ${verified.claims.linkId} and b.slug = ${DEMO_BRAND}`;
    if (!link)
      throw new HttpError(404, "not_found", "click_id: not a click on a demo brand link", "click_id");
    return link;
  };

  return new Elysia({ prefix: "/demo", tags: ["demo"] })
    .get(
      "/landing",
      async ({ query, set }) => {
        set.headers["content-type"] = "text/html; charset=utf-8";
        const clickId = query.click_id ?? query.cid ?? query.clickid ?? "";
        let events: string[] = [];
        let problem = "";
        if (!clickId) problem = "No click ID in the URL: open this page through a tracking link.";
        else {
          try {
            events = (await demoLink(clickId)).events;
          } catch (err) {
            problem = err instanceof HttpError ? err.message : "the click ID could not be checked";
          }
        }
        if (!deps.token)
          problem ||=
            "The demo advertiser token is not configured (DEMO_ADVERTISER_TOKEN), so postbacks cannot be fired.";
        return landingPage(clickId, events, problem);
      },
      {
        query: t.Object({
          click_id: t.Optional(t.String({ maxLength: 64 })),
          cid: t.Optional(t.String({ maxLength: 64 })),
          clickid: t.Optional(t.String({ maxLength: 64 })),
        }),
        detail: { hide: true },
      },
    )
    .post(
      "/fire",
      async ({ body, set }) => {
        if (!deps.token) throw new HttpError(503, "unavailable", "DEMO_ADVERTISER_TOKEN is not configured");
        const link = await demoLink(body.click_id);
        if (!link.events.includes(body.event))
          throw new HttpError(
            400,
            "invalid_request",
            `event: the demo offer has no event ${body.event}`,
            "event",
          );
        // A registration is one per visitor (pressing again shows dedup); every deposit is new.
        const txid =
          body.event === "registration"
            ? `demo-reg-${body.click_id.slice(-12)}`
            : `demo-${body.event}-${crypto.randomUUID().slice(0, 8)}`;
        const params = new URLSearchParams({
          click_id: body.click_id,
          txid,
          event: body.event,
          token: deps.token,
        });
        if (body.amount) params.set("amount", body.amount);
        const res = await fetch(`${deps.gatewayUrl}/postback?${params}`, {
          signal: AbortSignal.timeout(10_000),
        });
        set.status = 200;
        return {
          gateway_status: res.status,
          gateway_answer: await res.json().catch(() => null),
          txid,
          event: body.event,
        };
      },
      {
        body: t.Object({ click_id: ClickId, event: EventCode, amount: t.Optional(Decimal) }),
        detail: { hide: true },
      },
    )
    .get(
      "/status",
      async ({ query }) => {
        await demoLink(query.click_id);
        const conversions = await deps.sql`
          select c.id, c.event, c.status, c.amount::text, c.currency, c.txid, c.occurred_at,
                 coalesce((select sum(payout)::text from ledger_entries where conversion_id = c.id), null) as payout,
                 (select count(*)::int from deliveries where conversion_id = c.id and status = 'delivered') as delivered
          from conversions c where c.click_id = ${query.click_id} order by c.id`;
        const money = (v: unknown, currency: string) =>
          v === null ? null : roundToCurrency(String(v), currency.trim());
        return {
          conversions: conversions.map((c) => ({
            ...c,
            amount: money(c.amount, c.currency),
            payout: money(c.payout, c.currency),
          })),
          affiliate_postbacks: received.filter((r) => Object.values(r.query).includes(query.click_id)),
        };
      },
      { query: t.Object({ click_id: ClickId }), detail: { hide: true } },
    )
    .get(
      "/affiliate-postback",
      ({ query }) => {
        received.unshift({ at: new Date().toISOString(), query: query as Record<string, string> });
        received.length = Math.min(received.length, 100);
        return { ok: true };
      },
      { detail: { hide: true } },
    )
    .get("/affiliate-postbacks", () => ({ data: received }), { detail: { hide: true } });
}

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );

function landingPage(clickId: string, events: string[], problem: string): string {
  const buttons = events
    .map((e) => {
      const money = e !== "registration" && e !== "lead";
      return `<button data-event="${escapeHtml(e)}" ${money ? 'data-amount="100.00"' : ""}>${escapeHtml(money ? `${e} (100.00)` : e)}</button>`;
    })
    .join(" ");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Demo Casino</title><link rel="stylesheet" href="/ui/app.css"></head>
<body class="demo"><main>
<h1>Demo Casino</h1>
<p>This is the advertiser's landing page. The tracker sent the visitor here with a click ID:</p>
<p class="click-id">Click ID: <code id="click-id">${escapeHtml(clickId || "—")}</code></p>
${problem ? `<p class="error" id="problem">${escapeHtml(problem)}</p>` : ""}
<p>Your backend stores that ID with the player and sends it back in a postback when the player does something:</p>
<p id="buttons">${problem ? "" : buttons}</p>
<pre id="answer" aria-live="polite"></pre>
<h2>What the tracker booked</h2>
<table id="conversions"><thead><tr><th>Conversion</th><th>Event</th><th>Status</th><th>Amount</th><th>Payout</th><th>Affiliate postback</th></tr></thead><tbody></tbody></table>
</main>
<script type="module" src="/ui/demo.js"></script>
</body></html>`;
}
