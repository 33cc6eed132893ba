import { Head } from "../components/ui.tsx";
import { nameColumn, timeColumn } from "../components/columns.tsx";
import { qs } from "../api.ts";
import { Form } from "../components/form.tsx";
import { DataTable, type Row } from "../components/table.tsx";
import { Badge, Card, ErrorBox, Facts, Loading, Money, Name, Page, Time } from "../components/ui.tsx";
import { text } from "../format.ts";
import { optionsOf, useNames } from "../names.ts";
import { go, href } from "../route.ts";
import { isStaff } from "../session.ts";
import { useApi } from "../use-api.ts";
import { opts } from "./options.ts";
import type { PageProps } from "./registry.ts";

const subsOf = (r: Row) => text(r.subs);

export function ConversionsPage({ me, route }: PageProps) {
  const all = useNames();
  const staff = isStaff(me);
  const initial: Record<string, string> = {};
  for (const k of ["status", "offer_id", "affiliate_id", "event", "click_id", "txid"]) {
    const v = route.params.get(k);
    if (v) initial[k] = v;
  }
  return (
    <Page
      title="Conversions"
      intro="Every booked conversion in the date range. Open one for its trace: each postback, decision, ledger entry and outbound attempt."
    >
      <DataTable
        path="/v1/conversions"
        server={{ search: true, sort: ["occurred_at", "created_at", "event", "status", "currency"] }}
        caption="Conversions"
        csvName="conversions"
        serverCsv="/v1/conversions/export"
        global={{ range: true, brand: staff }}
        initialFilters={initial}
        filters={[
          { name: "status", label: "Status", options: opts("pending", "approved", "rejected", "reversed") },
          { name: "offer_id", label: "Offer", options: optionsOf(all, "offer") },
          ...(staff
            ? [{ name: "affiliate_id", label: "Affiliate", options: optionsOf(all, "affiliate") }]
            : []),
          { name: "event", label: "Event" },
          { name: "txid", label: "Txid" },
          { name: "click_id", label: "Click ID" },
        ]}
        columns={[
          timeColumn("occurred_at", "When"),
          nameColumn(all, "offer", "offer_id", "Offer"),
          nameColumn(all, "affiliate", "affiliate_id", "Affiliate"),
          { key: "event" },
          {
            key: "status",
            render: (r) => (
              <>
                <Badge value={r.status as string} />
                {r.is_test ? (
                  <>
                    {" "}
                    <span
                      class="badge"
                      title="test traffic (the operator test tool, launch validation): left out of reports"
                    >
                      test
                    </span>
                  </>
                ) : null}
              </>
            ),
          },
          {
            key: "amount",
            numeric: true,
            render: (r) => <Money amount={r.amount as string} currency={r.currency as string} />,
          },
          { key: "txid", label: "Txid" },
          {
            key: "click_id",
            label: "Click ID",
            render: (r) =>
              staff ? (
                <a
                  href={href("trace", { conversion_id: String(r.id) })}
                  aria-label={`Trace conversion ${r.id}`}
                >
                  <code>{String(r.click_id ?? "")}</code>
                </a>
              ) : (
                <code>{String(r.click_id ?? "")}</code>
              ),
          },
          { key: "subs", render: subsOf, value: subsOf },
          { key: "source" },
        ]}
        rowClass={(r) => `conversion${r.is_test ? " test" : ""}`}
      />
    </Page>
  );
}

type Trace = {
  timeline: { at: string; kind: string; summary: string }[];
  clicks: {
    click_id: string;
    id_check: string;
    clicked_at: string | null;
    stored: boolean;
    click: Row | null;
    link: Row | null;
    /** What routed the click (docs/routing.md); staff only, null otherwise. */
    route: Row | null;
  }[];
  receipts: {
    id: string;
    received_at: string;
    source: string;
    event: string;
    status: string | null;
    txid: string | null;
    requests: number;
    retries_answered_duplicate: number;
    decision: string;
  }[];
  postback_requests: {
    received_at: string;
    method: string;
    source: string;
    outcome: string;
    http_status: number;
    reason: string | null;
    params: Record<string, string>;
  }[];
  conversions: {
    id: string;
    event: string;
    status: string;
    amount: string | null;
    currency: string | null;
    is_test: boolean;
    commission_blocked: { reason: string; message: string; attempts: number; blocked_at: string } | null;
    history: { seq: number; status: string; reason: string | null; at: string; receipt_id: string | null }[];
    ledger: {
      id: string;
      type: string;
      payout: string;
      currency: string;
      revenue?: string;
      created_at: string;
    }[];
    deliveries: {
      id: string;
      status: string;
      method: string;
      url: string;
      affiliate_id?: string | null;
      destination_id?: string | null;
      webhook_id?: string | null;
      last_error?: string | null;
      attempts: {
        attempt: number;
        started_at: string;
        status_code: number | null;
        error: string | null;
        latency_ms: number | null;
      }[];
    }[];
  }[];
};

/** Why a click ID has no stored click, in words (the click service never stores some requests). */
/** "via link CODE, rule 2 (name) → offer 7" or "… fallback → offer 5" (docs/routing.md). */
function routeOf(route: Row): string {
  const rule = route.fallback
    ? "fallback"
    : `rule ${Number(route.rule_position) + 1}${route.rule_name ? ` (${String(route.rule_name)})` : ""}`;
  return `via link ${String(route.via_link_code)}, ${rule}${route.retired_at ? " (since replaced)" : ""} → offer ${String(route.offer_id ?? "?")}`;
}

function notStoredReason(c: Trace["clicks"][number]): string {
  if (c.id_check.startsWith("invalid")) return `not stored: the click ID is ${c.id_check}`;
  return "not stored: the click ID is genuine but no click row exists — a browser prefetch or HEAD request is redirected without being stored, a click younger than a second may not be written yet, and a click shed under overload is not kept; the conversion is credited from the signed click ID alone";
}

/** The traffic-quality codes a click carries (docs/fraud.md), in words. */
const FLAG_WORDS: Record<string, string> = {
  bot: "a bot (known crawler or automation user agent): counted, never unique",
  click_flood_ip: "a click flood from one address (over the clicks-a-minute threshold): never unique",
  click_flood_sub:
    "a click flood for one affiliate and sub1 (over the clicks-a-minute threshold): never unique",
  click_flood_link: "a click flood on one tracking link (over the clicks-a-minute threshold): never unique",
  ip_datacenter: "from a data-centre address (an IP list)",
  ip_vpn: "from a VPN or proxy address (an IP list)",
  ip_tor: "from a TOR exit (an IP list)",
  ip_blocked: "from a blocked address (an IP list)",
  click_cap: "over the offer's click cap: sent to the offer's fallback URL",
  conversion_cap:
    "the offer's conversion cap (an event's day or month) was full: sent to the offer's fallback URL",
  payout_cap: "the offer's payout cap (day or month) was reached: sent to the offer's fallback URL",
};
export function flagsOf(reasons: unknown): string {
  const list = Array.isArray(reasons) ? (reasons as string[]) : [];
  return list.map((r) => FLAG_WORDS[r] ?? r.replaceAll("_", " ")).join("; ");
}

export function TracePage({ route }: PageProps) {
  const q = {
    click_id: route.params.get("click_id") ?? "",
    txid: route.params.get("txid") ?? "",
    conversion_id: route.params.get("conversion_id") ?? "",
  };
  const asked = q.click_id || q.txid || q.conversion_id;
  const { data: t, error } = useApi<Trace>(asked ? `/v1/trace${qs(q)}` : null);
  return (
    <Page
      title="Conversion trace"
      intro="Why was a conversion accepted, rejected, blocked or delayed? Give a click ID, a transaction ID or a conversion ID."
    >
      <Card>
        <Form
          key={JSON.stringify(q)}
          fields={[
            { name: "click_id", label: "Click ID" },
            { name: "txid", label: "Txid" },
            { name: "conversion_id", label: "Conversion ID" },
          ]}
          initial={q}
          resetOnSuccess={false}
          submit="Trace"
          onSubmit={async (v) =>
            go("trace", {
              click_id: v.click_id as string,
              txid: v.txid as string,
              conversion_id: v.conversion_id as string,
            })
          }
        />
      </Card>
      <ErrorBox error={error} />
      {asked && !t && !error ? <Loading /> : null}
      {t ? (
        <div id="trace">
          <h2>Timeline</h2>
          <div class="table-wrap">
            <table id="timeline" class="timeline">
              <caption class="sr-only">Timeline</caption>
              <tbody>
                {t.timeline.map((e, i) => (
                  <tr key={i}>
                    <td>
                      <Time at={e.at} />
                    </td>
                    <td>
                      <Badge value={e.kind} />
                    </td>
                    <td>{e.summary}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <h2>Clicks</h2>
          {t.clicks.length === 0 ? <p class="muted">No click.</p> : null}
          {t.clicks.map((c) => (
            <Card key={c.click_id}>
              <Facts
                items={[
                  ["Click ID", <code key="c">{c.click_id}</code>],
                  ["ID check", c.id_check],
                  ["Clicked", <Time key="t" at={c.clicked_at} />],
                  ["Stored", c.stored ? "yes" : <span class="error why">{notStoredReason(c)}</span>],
                  ["Link", c.link ? text(c.link.code) : null],
                  [
                    "Offer",
                    c.link ? <Name kind="offer" id={c.link.offer_id as string} link={false} /> : null,
                  ],
                  [
                    "Affiliate",
                    c.link ? <Name kind="affiliate" id={c.link.affiliate_id as string} link={false} /> : null,
                  ],
                  ["Sub IDs", text(c.click?.subs)],
                  ["Unique", c.click ? text(c.click.is_unique) : null],
                  [
                    "Flagged",
                    c.click && flagsOf(c.click.reasons) ? (
                      <span class="why">{flagsOf(c.click.reasons)}</span>
                    ) : null,
                  ],
                  [
                    "Device",
                    c.click
                      ? [c.click.device_type, c.click.os, c.click.browser].filter(Boolean).join(" · ")
                      : null,
                  ],
                  ["Country", c.click?.country ? text(c.click.country) : null],
                  ["Routed", c.route ? routeOf(c.route) : null],
                ]}
              />
            </Card>
          ))}
          <h2>Postback decisions</h2>
          {t.receipts.length === 0 ? <p class="muted">No accepted postback.</p> : null}
          {t.receipts.length ? (
            <div class="table-wrap">
              <table>
                <Head cols={["Received", "Source", "Event", "Status", "Txid", "Requests", "Decision"]} />
                <tbody>
                  {t.receipts.map((r) => (
                    <tr key={r.id}>
                      <td>
                        <Time at={r.received_at} />
                      </td>
                      <td>{r.source}</td>
                      <td>{r.event}</td>
                      <td>{r.status ?? ""}</td>
                      <td>{r.txid ?? ""}</td>
                      <td class="num">
                        {r.requests}
                        {r.retries_answered_duplicate ? ` (${r.retries_answered_duplicate} duplicate)` : ""}
                      </td>
                      <td>{r.decision}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
          <h2>Raw postback requests (secrets masked)</h2>
          {t.postback_requests.length === 0 ? <p class="muted">None.</p> : null}
          {t.postback_requests.length ? (
            <div class="table-wrap">
              <table>
                <Head cols={["Received", "Request", "Outcome", "HTTP", "Reason", "Parameters"]} />
                <tbody>
                  {t.postback_requests.map((l, i) => (
                    <tr key={i}>
                      <td>
                        <Time at={l.received_at} />
                      </td>
                      <td>
                        {l.method} {l.source}
                      </td>
                      <td>
                        <Badge value={l.outcome} />
                      </td>
                      <td class="num">{l.http_status}</td>
                      <td>{l.reason ?? ""}</td>
                      <td>
                        <ul class="chips">
                          {Object.entries(l.params ?? {}).map(([k, v]) => (
                            <li key={k}>
                              {k}={v}
                            </li>
                          ))}
                        </ul>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
          <h2>Conversions</h2>
          {t.conversions.map((c) => (
            <Card key={c.id} class="trace-conversion">
              <p>
                <strong>
                  Conversion {c.id}: {c.event}
                </strong>{" "}
                <Badge value={c.status} />{" "}
                {c.amount ? <Money amount={c.amount} currency={c.currency} /> : null}
                {c.is_test ? " (test traffic)" : ""}
              </p>
              {c.commission_blocked ? (
                <p class="error why" role="note">
                  Commission blocked ({c.commission_blocked.reason.replaceAll("_", " ")}):{" "}
                  {c.commission_blocked.message}. Retried {c.commission_blocked.attempts} time(s); it books
                  itself once fixed.{" "}
                  {c.commission_blocked.reason === "fx_rate_missing" ? (
                    <a href={href("fx-rates")}>Add the FX rate</a>
                  ) : null}
                </p>
              ) : null}
              <h3>Status history</h3>
              <ul>
                {c.history.map((s) => (
                  <li key={s.seq}>
                    <Time at={s.at} /> → <Badge value={s.status} />
                    {s.reason ? ` (${s.reason.replaceAll("_", " ")})` : ""}
                  </li>
                ))}
              </ul>
              <h3>Ledger</h3>
              {c.ledger.length === 0 ? (
                <p class="muted">No ledger entries{c.commission_blocked ? " yet (blocked)" : ""}.</p>
              ) : null}
              <ul>
                {c.ledger.map((e) => (
                  <li key={e.id}>
                    <Time at={e.created_at} /> {e.type}: payout{" "}
                    <Money amount={e.payout} currency={e.currency} />
                    {e.revenue !== undefined ? (
                      <>
                        , revenue <Money amount={e.revenue} currency={e.currency} />
                      </>
                    ) : null}
                  </li>
                ))}
              </ul>
              <h3>Outbound postbacks and forwards</h3>
              {c.deliveries.length === 0 ? <p class="muted">None.</p> : null}
              {c.deliveries.map((d) => (
                <div key={d.id}>
                  <p>
                    <Badge value={d.status} />{" "}
                    {d.destination_id ? (
                      <>
                        to <Name kind="destination" id={d.destination_id} link={false} /> (ad platform){" "}
                      </>
                    ) : d.affiliate_id ? (
                      <>
                        to <Name kind="affiliate" id={d.affiliate_id} link={false} />{" "}
                      </>
                    ) : null}
                    {d.method} <code class="wrap">{d.url}</code>
                  </p>
                  {d.last_error && d.status !== "delivered" ? (
                    <p class={d.status === "skipped" ? "muted" : "error"}>
                      {d.status === "skipped" ? "Not sent: " : "Last error: "}
                      {d.last_error}
                    </p>
                  ) : null}
                  <ul>
                    {d.attempts.map((a) => (
                      <li key={a.attempt}>
                        attempt {a.attempt} at <Time at={a.started_at} /> →{" "}
                        {a.status_code ?? a.error ?? "no answer"}
                        {a.latency_ms !== null ? ` (${a.latency_ms} ms)` : ""}
                      </li>
                    ))}
                  </ul>
                </div>
              ))}
            </Card>
          ))}
        </div>
      ) : null}
    </Page>
  );
}

/** Reason codes a click can carry (docs/fraud.md): the clicks list filters by them (staff). */
export const CLICK_REASONS = [
  "bot",
  "click_flood_ip",
  "click_flood_sub",
  "click_flood_link",
  "ip_datacenter",
  "ip_vpn",
  "ip_tor",
  "ip_blocked",
  "click_cap",
  "conversion_cap",
  "payout_cap",
];

export function ClicksPage({ me, route }: PageProps) {
  const all = useNames();
  const staff = isStaff(me);
  // The attention panel links here with the filters of what it found (reason, affiliate, offer).
  const initial: Record<string, string> = {};
  for (const k of ["offer_id", "affiliate_id", "link_id", "reason", "sub1"]) {
    const v = route.params.get(k);
    if (v) initial[k] = v;
  }
  return (
    <Page
      title="Clicks"
      intro="Stored clicks in the date range. A click a bot made, or one a traffic rule flagged (floods, IP lists), is stored with its flag and never counts as unique."
    >
      <DataTable
        path="/v1/clicks"
        ordered={false}
        server={{ search: true, sort: [] }}
        caption="Clicks"
        csvName="clicks"
        global={{ range: true, brand: staff }}
        initialFilters={initial}
        filters={[
          { name: "offer_id", label: "Offer", options: optionsOf(all, "offer") },
          ...(staff
            ? [
                { name: "affiliate_id", label: "Affiliate", options: optionsOf(all, "affiliate") },
                { name: "reason", label: "Flag", options: opts(...CLICK_REASONS) },
              ]
            : []),
          { name: "link_id", label: "Link", options: optionsOf(all, "link") },
          { name: "sub1", label: "Sub 1" },
        ]}
        columns={[
          timeColumn("clicked_at", "When"),
          nameColumn(all, "offer", "offer_id", "Offer"),
          nameColumn(all, "affiliate", "affiliate_id", "Affiliate"),
          nameColumn(all, "link", "link_id", "Link"),
          {
            key: "click_id",
            label: "Click ID",
            render: (r) =>
              staff ? (
                <a href={href("trace", { click_id: String(r.click_id) })}>
                  <code>{String(r.click_id)}</code>
                </a>
              ) : (
                <code>{String(r.click_id)}</code>
              ),
          },
          { key: "is_unique", label: "Unique", render: (r) => (r.is_unique ? "yes" : "no") },
          {
            key: "reasons",
            label: "Flags",
            render: (r) => flagsOf(r.reasons),
            value: (r) => flagsOf(r.reasons),
          },
          {
            key: "device_type",
            label: "Device",
            value: (r) => [r.device_type, r.os, r.browser].filter(Boolean).join(" · "),
          },
          {
            key: "country",
            label: "Country",
            render: (r) => (r.country ? String(r.country) : ""),
            value: (r) => (r.country ? String(r.country) : ""),
          },
          {
            key: "via_link_id",
            label: "Routed from",
            render: (r) => (r.via_link_id ? `link ${String(r.via_link_id)}` : ""),
            value: (r) => (r.via_link_id ? String(r.via_link_id) : ""),
          },
          { key: "subs", render: subsOf, value: subsOf },
          { key: "referrer" },
          ...(staff
            ? [
                { key: "ip", label: "IP" },
                { key: "user_agent", label: "User agent" },
              ]
            : []),
        ]}
      />
    </Page>
  );
}
