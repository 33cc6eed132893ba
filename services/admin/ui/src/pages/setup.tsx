import { kindField } from "./options.ts";
import { nameColumn, timeColumn, statusColumn } from "../components/columns.tsx";
import { api } from "../api.ts";
import { bodyOf, type Field, type Values } from "../components/form.tsx";
import { ResourcePage } from "../components/resource.tsx";
import type { Row } from "../components/table.tsx";
import { Badge, Copy, Name, toast } from "../components/ui.tsx";
import { optionsOf, useNames } from "../names.ts";
import { href, paramsOf } from "../route.ts";
import { canWrite, isStaff } from "../session.ts";
import { money, pct } from "../format.ts";
import { currencyField, opts, STATUS_OPTIONS } from "./options.ts";
import type { PageProps } from "./registry.ts";

export function BrandsPage({ me, route }: PageProps) {
  const fields: Field[] = [
    {
      name: "slug",
      label: "Slug",
      required: true,
      pattern: "[a-z0-9-]{1,40}",
      help: "lower case, used in URLs",
    },
    { name: "name", label: "Name", required: true },
    currencyField("currency", "Currency"),
    { name: "timezone", label: "Time zone", required: true, placeholder: "Europe/Malta" },
  ];
  return (
    <ResourcePage
      me={me}
      openId={route.params.get("id")}
      title="Brands"
      noun="brand"
      path="/v1/brands"
      csvName="brands"
      columns={[
        { key: "name", render: (r) => <span title={`brand id ${r.id}`}>{String(r.name)}</span> },
        { key: "slug" },
        { key: "currency" },
        { key: "timezone", label: "Time zone" },
        timeColumn("created_at", "Created"),
      ]}
      create={{ fields }}
      edit={{
        fields: fields.filter((f) => f.name === "name" || f.name === "timezone"),
        initial: (r) => ({ name: r.name, timezone: r.timezone }),
      }}
    />
  );
}

export function AdvertisersPage({ me, route }: PageProps) {
  const all = useNames();
  return (
    <ResourcePage
      me={me}
      openId={route.params.get("id")}
      title="Advertisers"
      intro="Who sends postbacks. Open an advertiser's integration for its postback URL, token, signing secrets, IP allowlist, aliases and rate limit."
      noun="advertiser"
      path="/v1/advertisers"
      csvName="advertisers"
      global={{ brand: true }}
      pause
      columns={[
        {
          key: "name",
          render: (r) => (
            <a href={href("advertiser", { id: String(r.id) })} title={`advertiser id ${r.id}`}>
              {String(r.name)}
            </a>
          ),
        },
        nameColumn(all, "brand", "brand_id", "Brand", true),
        statusColumn(),
        {
          key: "token_hint",
          label: "Token",
          render: (r) =>
            r.token_hint ? <code>…{String(r.token_hint)}</code> : <span class="muted">none</span>,
        },
        { key: "rate_limit_per_second", label: "Rate limit /s", numeric: true },
        timeColumn("created_at", "Created"),
      ]}
      actions={(r) => (
        <a class="button secondary" href={href("advertiser", { id: String(r.id) })}>
          Integration
        </a>
      )}
      create={{
        fields: [
          kindField(all, "brand", "brand_id", "Brand", { required: true }),
          { name: "name", label: "Name", required: true },
          {
            name: "token",
            label: "Postback token",
            type: "password",
            help: "leave empty to generate one later (Integration → Rotate token)",
          },
        ],
      }}
      edit={{ fields: [{ name: "name", label: "Name", required: true }], initial: (r) => ({ name: r.name }) }}
    />
  );
}

const eventFields: Field[] = [
  { name: "code", label: "Event code", required: true, pattern: "[a-z0-9_]{1,40}", placeholder: "ftd" },
  { name: "window_days", label: "Window (days)", type: "number", min: 1, max: 3650, placeholder: "30" },
  { name: "default_status", label: "Default status", type: "select", options: opts("pending", "approved") },
  { name: "cap_daily", label: "Daily cap", type: "number", min: 1 },
  { name: "cap_monthly", label: "Monthly cap", type: "number", min: 1 },
];
type Event = {
  code: string;
  window_days?: number;
  default_status?: string;
  cap_daily?: number | null;
  cap_monthly?: number | null;
};

export function OffersPage({ me, route }: PageProps) {
  const all = useNames();
  const staff = isStaff(me);
  const createFields: Field[] = [
    kindField(all, "brand", "brand_id", "Brand", { required: true }),
    kindField(all, "advertiser", "advertiser_id", "Advertiser", { required: true }),
    { name: "name", label: "Name", required: true },
    {
      name: "destination_url",
      label: "Destination URL",
      type: "url",
      required: true,
      help: "the landing page; {click_id} is replaced by the click ID",
    },
    { name: "click_id_param", label: "Click ID parameter", placeholder: "click_id" },
    { ...currencyField("currency", "Currency", false), help: "default: the brand's currency" },
    {
      name: "events",
      label: "Events",
      type: "repeat",
      fields: eventFields,
      addLabel: "Add event",
      min: 1,
    },
  ];
  const editFields: Field[] = [
    { name: "name", label: "Name", required: true },
    { name: "destination_url", label: "Destination URL", type: "url", required: true },
    { name: "click_id_param", label: "Click ID parameter", placeholder: "click_id" },
  ];
  return (
    <ResourcePage
      me={me}
      openId={route.params.get("id")}
      title="Offers"
      noun="offer"
      path="/v1/offers"
      server={{ search: true, sort: ["name", "status", "created_at"] }}
      csvName="offers"
      global={{ brand: staff }}
      initialFilters={paramsOf(route, "advertiser_id", "status")}
      filters={[
        { name: "status", label: "Status", options: STATUS_OPTIONS },
        ...(staff
          ? [{ name: "advertiser_id", label: "Advertiser", options: optionsOf(all, "advertiser") }]
          : []),
      ]}
      pause
      columns={[
        { key: "name", render: (r) => <span title={`offer id ${r.id}`}>{String(r.name)}</span> },
        nameColumn(all, "brand", "brand_id", "Brand"),
        ...(staff ? [nameColumn(all, "advertiser", "advertiser_id", "Advertiser", true)] : []),
        { key: "currency" },
        {
          key: "events",
          render: (r) => (
            <ul class="chips">
              {((r.events as Event[] | undefined) ?? []).map((e) => (
                <li key={e.code}>
                  {e.code}
                  {e.window_days ? ` · ${e.window_days} d` : ""}
                  {e.cap_daily ? ` · ${e.cap_daily}/day` : ""}
                  {e.cap_monthly ? ` · ${e.cap_monthly}/month` : ""}
                </li>
              ))}
            </ul>
          ),
          value: (r) => ((r.events as Event[] | undefined) ?? []).map((e) => e.code).join(" "),
        },
        statusColumn(),
      ]}
      create={{
        initial: {
          events: [
            { code: "registration", window_days: "30" },
            { code: "ftd", window_days: "30" },
          ],
        },
        // Without a currency the offer takes its brand's.
        body: (v) =>
          bodyOf(createFields, {
            ...v,
            currency: v.currency || all.brand.get(String(v.brand_id ?? ""))?.currency,
          }),
        fields: createFields,
      }}
      edit={{
        fields: [
          ...editFields,
          {
            name: "events",
            label: "Events",
            type: "repeat",
            fields: eventFields,
            addLabel: "Add event",
            min: 1,
            help: "add events or change their window, status and caps; an event once used stays",
          },
        ],
        initial: (r) => ({
          name: r.name,
          destination_url: r.destination_url,
          click_id_param: r.click_id_param,
          events: ((r.events as Event[] | undefined) ?? []).map((e) => ({ ...e })),
        }),
        save: async (v, r) => {
          const body = bodyOf(editFields, v, {
            name: r.name,
            destination_url: r.destination_url,
            click_id_param: r.click_id_param,
          });
          if (Object.keys(body).length > 0) await api("PATCH", `/v1/offers/${r.id}`, body);
          await saveEvents(
            (code, b) => api("PUT", `/v1/offers/${r.id}/events/${encodeURIComponent(code)}`, b),
            (r.events as Event[] | undefined) ?? [],
            (v.events as Values[] | undefined) ?? [],
          );
        },
      }}
    />
  );
}

/** Saves an offer's events one by one (PUT /v1/offers/:id/events/:code): new and changed ones. */
export async function saveEvents(
  put: (code: string, body: Values) => Promise<unknown>,
  before: Event[],
  after: Values[],
): Promise<void> {
  for (const row of after) {
    const body = bodyOf(eventFields.slice(1), row);
    const code = String(row.code ?? "");
    const old = before.find((e) => e.code === code);
    const same = old && Object.entries(body).every(([k, v]) => (old as Record<string, unknown>)[k] === v);
    if (code && !same) await put(code, body);
  }
}

export function AffiliatesPage({ me, route }: PageProps) {
  return (
    <ResourcePage
      me={me}
      openId={route.params.get("id")}
      title="Affiliates"
      noun="affiliate"
      path="/v1/affiliates"
      server={{ search: true, sort: ["name", "status", "created_at"] }}
      csvName="affiliates"
      filters={[
        { name: "status", label: "Status", options: STATUS_OPTIONS },
        {
          name: "is_test",
          label: "Test",
          options: [
            { value: "true", label: "test only" },
            { value: "false", label: "real only" },
          ],
        },
      ]}
      pause
      columns={[
        { key: "name", render: (r) => <span title={`affiliate id ${r.id}`}>{String(r.name)}</span> },
        { key: "payout_currency", label: "Payout currency" },
        { key: "is_test", label: "Test", render: (r) => (r.is_test ? "test" : "") },
        statusColumn(),
        timeColumn("created_at", "Created"),
      ]}
      actions={(r) => (
        <a class="button secondary" href={href("balances", { affiliate_id: String(r.id) })}>
          Balance
        </a>
      )}
      create={{
        fields: [
          { name: "name", label: "Name", required: true },
          currencyField("payout_currency", "Payout currency", false),
          { name: "is_test", label: "Test affiliate", type: "checkbox" },
        ],
      }}
      edit={{
        fields: [
          { name: "name", label: "Name", required: true },
          currencyField("payout_currency", "Payout currency", false),
        ],
        initial: (r) => ({ name: r.name, payout_currency: r.payout_currency }),
      }}
    />
  );
}

export function LinksPage({ me, route }: PageProps) {
  const all = useNames();
  const staff = isStaff(me);
  return (
    <ResourcePage
      me={me}
      openId={route.params.get("id")}
      title="Links"
      initialFilters={paramsOf(route, "affiliate_id", "offer_id", "status")}
      intro="Tracking links: one per offer and affiliate. Share the tracking URL; sub1–sub5 may be appended."
      noun="link"
      path="/v1/links"
      server={{ search: true, sort: ["code", "status", "created_at"] }}
      csvName="links"
      filters={[
        { name: "status", label: "Status", options: STATUS_OPTIONS },
        { name: "offer_id", label: "Offer", options: optionsOf(all, "offer") },
        ...(staff
          ? [{ name: "affiliate_id", label: "Affiliate", options: optionsOf(all, "affiliate") }]
          : []),
      ]}
      pause
      columns={[
        { key: "code", render: (r) => <span title={`link id ${r.id}`}>{String(r.code)}</span> },
        nameColumn(all, "offer", "offer_id", "Offer"),
        nameColumn(all, "affiliate", "affiliate_id", "Affiliate"),
        {
          key: "tracking_url",
          label: "Tracking URL",
          render: (r) => (r.tracking_url ? <Copy text={String(r.tracking_url)} label="tracking URL" /> : ""),
        },
        {
          // A smart link's destination on another offer (docs/routing.md): made by its routing.
          key: "parent_link_id",
          label: "Routing",
          render: (r) => (r.parent_link_id ? `destination of link ${String(r.parent_link_id)}` : ""),
          value: (r) => (r.parent_link_id ? String(r.parent_link_id) : ""),
        },
        statusColumn(),
      ]}
      create={{
        fields: [
          kindField(all, "offer", "offer_id", "Offer", { required: true }),
          kindField(all, "affiliate", "affiliate_id", "Affiliate", { required: true }),
          {
            name: "code",
            label: "Code",
            help: "optional; generated when empty",
            pattern: "[A-Za-z0-9_-]{4,64}",
          },
        ],
        created: (r) => (
          <p>
            Tracking URL:{" "}
            {r.tracking_url ? <Copy text={String(r.tracking_url)} label="tracking URL" /> : null}
          </p>
        ),
      }}
      actions={(r) =>
        staff ? (
          <a
            class="button secondary"
            href={href("link-routing", { id: String(r.id) })}
            aria-label={`Routing of link ${String(r.code)}`}
          >
            Routing
          </a>
        ) : null
      }
    />
  );
}

export function PayoutRulesPage({ me, route }: PageProps) {
  const all = useNames();
  return (
    <ResourcePage
      me={me}
      openId={route.params.get("id")}
      title="Payout rules"
      intro="What an affiliate earns and what the brand is paid per event. A rule is archived, never changed: archive it and create the new terms."
      noun="rule"
      path="/v1/payout-rules"
      csvName="payout-rules"
      filters={[
        { name: "status", label: "Status", options: opts("active", "archived") },
        { name: "offer_id", label: "Offer", options: optionsOf(all, "offer") },
        { name: "affiliate_id", label: "Affiliate", options: optionsOf(all, "affiliate") },
        { name: "event", label: "Event" },
      ]}
      columns={[
        nameColumn(all, "offer", "offer_id", "Offer"),
        { key: "event" },
        {
          key: "affiliate_id",
          label: "Affiliate",
          render: (r) =>
            r.affiliate_id ? (
              <Name kind="affiliate" id={r.affiliate_id as string} link={false} />
            ) : (
              "every affiliate"
            ),
        },
        { key: "model" },
        {
          key: "payout",
          numeric: true,
          render: (r) => <Terms row={r} fixed="payout" percent="payout_percent" />,
        },
        {
          key: "revenue",
          numeric: true,
          render: (r) => <Terms row={r} fixed="revenue" percent="revenue_percent" />,
        },
        {
          key: "caps",
          render: (r) =>
            [r.cap_daily ? `${r.cap_daily}/day` : "", r.cap_monthly ? `${r.cap_monthly}/month` : ""]
              .filter(Boolean)
              .join(", "),
        },
        { key: "hold_days", label: "Hold (days)", numeric: true },
        statusColumn(),
      ]}
      actions={(r, reload) =>
        r.status === "active" ? <ArchiveButton id={String(r.id)} reload={reload} /> : null
      }
      create={{
        initial: { model: "cpa", currency: "EUR" },
        fields: [
          kindField(all, "offer", "offer_id", "Offer", { required: true }),
          { name: "event", label: "Event", required: true, pattern: "[a-z0-9_]{1,40}", placeholder: "ftd" },
          kindField(all, "affiliate", "affiliate_id", "Affiliate", { empty: "every affiliate" }),
          {
            name: "model",
            label: "Model",
            type: "select",
            required: true,
            options: opts("cpa", "revshare", "hybrid"),
          },
          { name: "payout", label: "Payout", type: "decimal", when: (v) => v.model !== "revshare" },
          { name: "payout_percent", label: "Payout %", type: "decimal", when: (v) => v.model !== "cpa" },
          { name: "revenue", label: "Revenue", type: "decimal" },
          { name: "revenue_percent", label: "Revenue %", type: "decimal" },
          currencyField("currency", "Currency"),
          { name: "cap_daily", label: "Daily cap", type: "number", min: 1 },
          { name: "cap_monthly", label: "Monthly cap", type: "number", min: 1 },
          { name: "cap_action", label: "Over the cap", type: "select", options: opts("zero", "reject") },
          { name: "hold_days", label: "Hold (days)", type: "number", min: 0, max: 3650 },
        ],
      }}
    />
  );
}

/** A rule's fixed amount, its percentage, or both (hybrid); a zero part is left out. */
function Terms(p: { row: Row; fixed: string; percent: string }) {
  const fixed = Number(p.row[p.fixed] ?? 0);
  const percent = Number(p.row[p.percent] ?? 0);
  const parts = [
    fixed || !percent ? money(p.row[p.fixed] as string, p.row.currency as string) : "",
    percent ? pct(percent / 100) : "",
  ].filter(Boolean);
  return <span class="num">{parts.join(" + ")}</span>;
}

function ArchiveButton(p: { id: string; reload: () => void }) {
  return (
    <button
      type="button"
      class="secondary"
      onClick={async () => {
        try {
          await api("POST", `/v1/payout-rules/${p.id}/archive`);
          toast("rule archived");
          p.reload();
        } catch (err) {
          toast((err as Error).message);
        }
      }}
    >
      Archive
    </button>
  );
}

export function TemplatesPage({ me, route }: PageProps) {
  const all = useNames();
  const staff = isStaff(me);
  const common: Field[] = [
    {
      name: "url_template",
      label: "URL template",
      required: true,
      type: "url",
      help: "placeholders: {click_id} {sub1}…{sub5} {event} {payout} {currency} {txid} {status}",
    },
    { name: "method", label: "Method", type: "select", options: opts("GET", "POST") },
    { name: "body_template", label: "Body template", type: "textarea", when: (v) => v.method === "POST" },
    {
      name: "content_type",
      label: "Content type",
      when: (v) => v.method === "POST",
      placeholder: "application/json",
    },
  ];
  return (
    <ResourcePage
      me={me}
      openId={route.params.get("id")}
      title="Postback templates"
      intro="Where an affiliate's conversions are sent (the affiliate's own tracker)."
      noun="template"
      path="/v1/affiliate-postbacks"
      csvName="postback-templates"
      initialFilters={paramsOf(route, "status", "affiliate_id")}
      filters={[
        { name: "status", label: "Status", options: opts("active", "paused", "disabled") },
        ...(staff
          ? [{ name: "affiliate_id", label: "Affiliate", options: optionsOf(all, "affiliate") }]
          : []),
      ]}
      pause
      columns={[
        nameColumn(all, "affiliate", "affiliate_id", "Affiliate"),
        {
          key: "offer_id",
          label: "Offer",
          render: (r) =>
            r.offer_id ? <Name kind="offer" id={r.offer_id as string} link={false} /> : "every offer",
        },
        { key: "event", render: (r) => (r.event ? String(r.event) : "every event") },
        { key: "method" },
        {
          key: "url_template",
          label: "URL",
          render: (r) => <code class="wrap">{String(r.url_template)}</code>,
        },
        {
          ...statusColumn(),
          render: (r) => (
            <>
              <Badge value={r.status as string} />
              {r.disabled_reason ? <span class="muted"> ({String(r.disabled_reason)})</span> : null}
            </>
          ),
        },
      ]}
      actions={(r, reload) =>
        canWrite(me) && r.status === "disabled" ? (
          <>
            <button
              type="button"
              aria-label={`Enable template ${String(r.id)}`}
              onClick={async () => {
                try {
                  await api("PATCH", `/v1/affiliate-postbacks/${r.id}`, { status: "active" });
                  toast("endpoint enabled: replay its dead deliveries from Outbound postbacks");
                  reload();
                } catch (err) {
                  toast((err as Error).message);
                }
              }}
            >
              Enable
            </button>
            <a
              class="button secondary"
              href={href("deliveries", { template_id: String(r.id), status: "dead" })}
            >
              Dead deliveries
            </a>
          </>
        ) : null
      }
      create={{
        initial: { method: "GET" },
        fields: [
          kindField(all, "affiliate", "affiliate_id", "Affiliate", { required: true }),
          kindField(all, "offer", "offer_id", "Offer", { empty: "every offer" }),
          { name: "event", label: "Event", placeholder: "every event" },
          ...common,
        ],
      }}
      edit={{
        fields: common,
        initial: (r) => ({
          url_template: r.url_template,
          method: r.method,
          body_template: r.body_template,
          content_type: r.content_type,
        }),
      }}
    />
  );
}
