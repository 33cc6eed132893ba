/**
 * Every read path of the running admin process, for every role: the answer carries only the
 * columns of the role's allow-list (visibility.ts) and, for an affiliate, only its own rows —
 * never a visitor's IP address or user agent. The routes come from the app's own route table,
 * so a new route that nobody classified here fails the first test.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parse } from "csv-parse/sync";
import type { Role } from "./auth.ts";
import { adminHarness, type Harness } from "./test-support.ts";
import { type Partner, seedPartner, VISITOR } from "./testing/partners.ts";
import {
  type Columns,
  columnsFor,
  EVERY_COLUMN,
  type Resource,
  SECRET_COLUMNS,
  VISIBILITY,
} from "./visibility.ts";

type Row = Record<string, unknown>;
// biome-ignore lint/suspicious/noExplicitAny: answers are walked generically
type Body = any;

let h: Harness;
const statementOf = new Map<Partner, string>();
let A: Partner;
let B: Partner;
const staffIds = {
  audit: "",
  apiKey: "",
  payoutRule: "",
  operatorWebhook: "",
  validationRun: "",
  import: "",
  payoutRun: "",
  user: "",
  ipList: "",
  destination: "",
};

type Read = {
  /** The resource of the rows the answer carries. */
  resource: Resource;
  /** Arrays under these keys are rows of another resource (a conversion's history, …). */
  nested?: Record<string, Resource>;
  /** Paths reading partner p's data. */
  paths: (p: Partner) => string[];
  /** Where the rows are in a JSON answer (default: `data`, else the answer itself). */
  rows?: (body: Body) => Row[];
};

const report = (body: Body) => [...(body.rows ?? []), ...(body.totals ?? [])];

/** Every GET route that returns rows, by the route table's own key. */
const READS: Record<string, Read> = {
  "GET /v1/affiliates/": { resource: "affiliates", paths: () => ["/v1/affiliates"] },
  "GET /v1/affiliates/:id": { resource: "affiliates", paths: (p) => [`/v1/affiliates/${p.affiliate.id}`] },
  "GET /v1/brands/": { resource: "brands", paths: () => ["/v1/brands"] },
  "GET /v1/brands/:id": { resource: "brands", paths: (p) => [`/v1/brands/${p.brand.id}`] },
  "GET /v1/offers/": { resource: "offers", nested: { events: "offer_events" }, paths: () => ["/v1/offers"] },
  "GET /v1/offers/:id": {
    resource: "offers",
    nested: { events: "offer_events" },
    paths: (p) => [`/v1/offers/${p.offer.id}`],
  },
  "GET /v1/links/": { resource: "links", paths: () => ["/v1/links"] },
  "GET /v1/links/build": {
    resource: "links",
    paths: (p) => [`/v1/links/build?offer_id=${p.offer.id}&affiliate_id=${p.affiliate.id}&sub1=x`],
  },
  "GET /v1/links/:id": { resource: "links", paths: (p) => [`/v1/links/${p.link.id}`] },
  "GET /v1/links/:id/routing": { resource: "link_routing", paths: (p) => [`/v1/links/${p.link.id}/routing`] },
  "GET /v1/clicks/": { resource: "clicks", paths: () => ["/v1/clicks"] },
  "GET /v1/clicks/:click_id": { resource: "clicks", paths: (p) => [`/v1/clicks/${p.owned.click}`] },
  "GET /v1/conversions/": { resource: "conversions", paths: () => ["/v1/conversions"] },
  "GET /v1/conversions/:id": {
    resource: "conversions",
    nested: { history: "conversion_history", ledger: "ledger_entries" },
    paths: (p) => [`/v1/conversions/${p.owned.conversion}`],
  },
  "GET /v1/conversions/export": { resource: "conversion_export", paths: () => ["/v1/conversions/export"] },
  "GET /v1/ledger-entries/": { resource: "ledger_entries", paths: () => ["/v1/ledger-entries"] },
  "GET /v1/ledger-entries/:id": {
    resource: "ledger_entries",
    paths: (p) => [`/v1/ledger-entries/${p.owned.entry}`],
  },
  "GET /v1/balances/": { resource: "balances", paths: () => ["/v1/balances"] },
  "GET /v1/affiliate-postbacks/": {
    resource: "affiliate_postbacks",
    paths: () => ["/v1/affiliate-postbacks"],
  },
  "GET /v1/affiliate-postbacks/:id": {
    resource: "affiliate_postbacks",
    paths: (p) => [`/v1/affiliate-postbacks/${p.owned.template}`],
  },
  "GET /v1/webhook-secrets/": { resource: "webhook_secrets", paths: () => ["/v1/webhook-secrets"] },
  "GET /v1/deliveries/": { resource: "deliveries", paths: () => ["/v1/deliveries"] },
  // Ad-platform destinations (docs/conversions-api.md): the operator's, tokens never shown.
  "GET /v1/conversion-destinations/": {
    resource: "conversion_destinations",
    paths: () => ["/v1/conversion-destinations"],
  },
  "GET /v1/conversion-destinations/:id": {
    resource: "conversion_destinations",
    paths: () => [`/v1/conversion-destinations/${staffIds.destination}`],
  },
  "GET /v1/deliveries/:id": {
    resource: "deliveries",
    nested: { attempts: "delivery_attempts" },
    paths: (p) => [`/v1/deliveries/${p.owned.delivery}`],
  },
  "GET /v1/reports/performance": {
    resource: "performance_report",
    rows: report,
    paths: () => {
      const q = "group_by=day,brand,advertiser,offer,affiliate,event,sub1";
      return [`/v1/reports/performance?${q}`, `/v1/reports/performance?${q}&format=csv`];
    },
  },
  "GET /v1/reports/deliveries": {
    resource: "delivery_report",
    rows: report,
    paths: () => [
      "/v1/reports/deliveries?group_by=day,brand,offer,affiliate",
      "/v1/reports/deliveries?group_by=offer&format=csv",
    ],
  },
  "GET /v1/reports/postbacks": {
    resource: "postback_report",
    rows: report,
    paths: () => ["/v1/reports/postbacks"],
  },
  "GET /v1/reports/s2s-vs-pixel": {
    resource: "pixel_gap_report",
    rows: report,
    paths: () => ["/v1/reports/s2s-vs-pixel"],
  },
  "GET /v1/trace/": {
    resource: "trace",
    rows: (body) => [body, ...body.clicks.map((c: Row) => c.click), ...body.conversions],
    paths: (p) => [`/v1/trace?click_id=${p.owned.click}`, `/v1/trace?txid=${p.owned.marker}`],
  },
  "GET /v1/advertisers/": { resource: "advertisers", paths: () => ["/v1/advertisers"] },
  "GET /v1/advertisers/:id": {
    resource: "advertisers",
    paths: (p) => [`/v1/advertisers/${p.advertiser.id}`],
  },
  "GET /v1/advertisers/:id/auth": {
    resource: "advertisers",
    paths: (p) => [`/v1/advertisers/${p.advertiser.id}/auth`],
  },
  "GET /v1/advertisers/:id/postback-guide": {
    resource: "advertisers",
    paths: (p) => [`/v1/advertisers/${p.advertiser.id}/postback-guide`],
  },
  "GET /v1/payout-rules/": { resource: "payout_rules", paths: () => ["/v1/payout-rules"] },
  "GET /v1/payout-rules/:id": {
    resource: "payout_rules",
    paths: () => [`/v1/payout-rules/${staffIds.payoutRule}`],
  },
  "GET /v1/audit-log/": { resource: "audit_log", paths: () => ["/v1/audit-log"] },
  "GET /v1/audit-log/:id": { resource: "audit_log", paths: () => [`/v1/audit-log/${staffIds.audit}`] },
  "GET /v1/validation-runs/": { resource: "validation_runs", paths: () => ["/v1/validation-runs"] },
  "GET /v1/validation-runs/:id": {
    resource: "validation_runs",
    paths: () => [`/v1/validation-runs/${staffIds.validationRun}`],
  },
  "GET /v1/imports/": { resource: "imports", paths: () => ["/v1/imports"] },
  "GET /v1/imports/:id": { resource: "imports", paths: () => [`/v1/imports/${staffIds.import}`] },
  "GET /v1/fx-rates/": { resource: "fx_rates", paths: () => ["/v1/fx-rates"] },
  // One summary (a quiet test system has no items): staff read it whole, an affiliate gets 403.
  "GET /v1/attention/": { resource: "attention", paths: () => ["/v1/attention"], rows: (b) => [b] },
  "GET /v1/api-keys/": { resource: "api_keys", paths: () => ["/v1/api-keys"] },
  "GET /v1/affiliates/:id/payment-details/": {
    resource: "payment_details",
    paths: (p) => [`/v1/affiliates/${p.affiliate.id}/payment-details`],
  },
  "GET /v1/affiliates/:id/payout-settings": {
    resource: "payout_settings",
    paths: (p) => [`/v1/affiliates/${p.affiliate.id}/payout-settings`],
  },
  "GET /v1/payout-minimums": { resource: "payout_minimums", paths: () => ["/v1/payout-minimums"] },
  "GET /v1/payout-runs": { resource: "payout_runs", paths: () => ["/v1/payout-runs"] },
  "GET /v1/payout-runs/:id": {
    resource: "payout_runs",
    nested: { lines: "payout_lines" },
    paths: () => [`/v1/payout-runs/${staffIds.payoutRun}`],
  },
  "GET /v1/payout-lines": { resource: "payout_lines", paths: () => ["/v1/payout-lines"] },
  "GET /v1/operator-webhooks/": { resource: "operator_webhooks", paths: () => ["/v1/operator-webhooks"] },
  "GET /v1/operator-webhooks/:id": {
    resource: "operator_webhooks",
    paths: () => [`/v1/operator-webhooks/${staffIds.operatorWebhook}`],
  },
  "GET /v1/statements/": { resource: "statements", paths: () => ["/v1/statements"] },
  "GET /v1/sub-affiliates/earnings": {
    resource: "sub_affiliate_earnings",
    paths: (p) => [`/v1/sub-affiliates/earnings?affiliate_id=${p.affiliate.id}`],
  },
  "GET /v1/statements/:id": {
    resource: "statements",
    paths: (p) => [`/v1/statements/${statementOf.get(p)}`],
  },
  "GET /v1/api-keys/:id": { resource: "api_keys", paths: () => [`/v1/api-keys/${staffIds.apiKey}`] },
  "GET /v1/test-postbacks/steps": {
    resource: "trace",
    rows: (body) => [body.trace],
    paths: (p) => [
      `/v1/test-postbacks/steps?advertiser_id=${p.advertiser.id}&txid=${p.owned.marker}&click_id=${p.owned.click}`,
    ],
  },
  "GET /v1/users/": { resource: "users", paths: () => ["/v1/users"] },
  "GET /v1/users/:id": { resource: "users", paths: () => [`/v1/users/${staffIds.user}`] },
  "GET /v1/user-invitations/": { resource: "user_invitations", paths: () => ["/v1/user-invitations"] },
  // Traffic quality (docs/fraud.md): the operator's rules, lists and review queue, staff only.
  "GET /v1/traffic-rules/": { resource: "traffic_rules", paths: () => ["/v1/traffic-rules"] },
  "GET /v1/traffic-rules/defaults": {
    resource: "traffic_rules",
    paths: () => ["/v1/traffic-rules/defaults"],
  },
  "GET /v1/ip-lists/": { resource: "ip_lists", paths: () => ["/v1/ip-lists"] },
  "GET /v1/ip-lists/:id": { resource: "ip_lists", paths: () => [`/v1/ip-lists/${staffIds.ipList}`] },
  "GET /v1/reviews/": {
    resource: "conversion_reviews",
    nested: { rules: "conversion_rule_hits" },
    paths: () => ["/v1/reviews", "/v1/reviews?state=rejected"],
  },
  "GET /v1/reports/traffic-quality/": {
    resource: "conversion_rule_hits",
    rows: (body) => [...body.clicks, ...body.conversions],
    paths: () => ["/v1/reports/traffic-quality"],
  },
};

/**
 * GET routes that return no resource's rows. The demo pages are public and show only the demo
 * brand's conversions through a fixed column list; /v1/me is the caller's own key.
 */
const NOT_ROWS = new Set([
  "GET /",
  "GET /ui/",
  "GET /ui/:file",
  "GET /openapi.json",
  "GET /docs",
  "GET /docs/scalar.js",
  "GET /demo/landing",
  "GET /demo/status",
  "GET /demo/fire",
  "GET /demo/affiliate-postback",
  "GET /demo/affiliate-postbacks",
  "GET /v1/me/",
  "GET /v1/auth/me",
  // The steps of /v1/test-postbacks/steps without the trace: staff only (403 before the stream).
  "GET /v1/test-postbacks/stream",
  "GET /v1/reports/",
  // The mass-payment file: admin and manager only (payout-runs.test.ts), the references whole by design.
  "GET /v1/payout-runs/:id/export",
  // A statement's page and PDF: the JSON read's content, rendered (statements.test.ts).
  "GET /v1/statements/:id/html",
  "GET /v1/statements/:id/pdf",
]);

const ROLES: Role[] = ["admin", "manager", "analyst", "affiliate"];
const keyOf = (role: Role) => (role === "affiliate" ? A.key : h.keys[role]);
const routeKeys = () => h.app.routes.map((r) => `${r.method} ${r.path}`);

beforeAll(async () => {
  h = await adminHarness("visibility", { process: true });
  A = await seedPartner(h, "A");
  B = await seedPartner(h, "B");
  const rule = await h.ok<{ id: string }>("POST", "/v1/payout-rules", {
    offer_id: A.offer.id,
    event: "ftd",
    model: "cpa",
    payout: "10",
    currency: "EUR",
  });
  staffIds.payoutRule = rule.id;
  for (const p of [A, B])
    await h.ok("PUT", `/v1/affiliates/${p.affiliate.id}/payment-details`, {
      method: "bank_transfer",
      account_reference: `DE8937040044053201${p.affiliate.id.padStart(4, "0")}`,
    });
  await h.ok("PUT", "/v1/payout-minimums/EUR", { minimum: "50" });
  // A payout run paying A and B (daily cycles; an entry payable since yesterday).
  const midnight = Math.floor(Date.now() / 86_400_000) * 86_400_000;
  for (const p of [A, B]) {
    await h.ok("PUT", `/v1/affiliates/${p.affiliate.id}/payout-settings`, { cycle: "custom", cycle_days: 1 });
    await h.sql`
      insert into ledger_entries (affiliate_id, type, payout, revenue, currency, affiliate_payout, affiliate_currency,
                                  available_at, created_at, reason, actor)
      values (${p.affiliate.id}, 'adjustment', 80, 0, 'EUR', 80, 'EUR', ${new Date(midnight - 80_000_000)},
              ${new Date(midnight - 80_000_000)}, 'bonus', 'test')`;
  }
  // Each partner earns a tier-2 share of the other's commission (sub-affiliate earnings).
  for (const [p, child] of [
    [A, B],
    [B, A],
  ] as const)
    await h.sql`
      insert into ledger_entries (conversion_id, change_seq, affiliate_id, offer_id, type, tier, source_entry_id, payout,
                                  revenue, currency, affiliate_payout, affiliate_currency)
      values (${child.owned.conversion}, 1, ${p.affiliate.id}, ${child.offer.id}, 'sub_commission', 2, ${child.owned.entry},
              2.5, 0, 'EUR', 2.5, 'EUR')`;
  const payoutRun = await h.ok<{ id: string }>("POST", "/v1/payout-runs", {
    period_end: new Date(midnight).toISOString(),
  });
  staffIds.payoutRun = payoutRun.id;
  // The operator's webhook and one of its deliveries (about A): staff read them, no affiliate does.
  const webhook = await h.ok<{ id: string }>("POST", "/v1/operator-webhooks", {
    name: "Finance",
    url: "https://ops.example/hooks",
    events: ["payout.paid"],
  });
  staffIds.operatorWebhook = webhook.id;
  await h.sql`
    insert into deliveries (event_id, webhook_id, method, url, body, content_type, status)
    values ('payout.paid:visibility', ${webhook.id}, 'POST', 'https://ops.example/hooks',
            ${JSON.stringify({ type: "payout.paid", data: { affiliate_id: A.affiliate.id } })}, 'application/json', 'delivered')`;
  for (const p of [A, B]) {
    const [statement] = await h.sql`select id::text from statements where affiliate_id = ${p.affiliate.id}`;
    statementOf.set(p, statement?.id);
  }
  await h.ok("POST", "/v1/fx-rates", {
    base: "USD",
    quote: "EUR",
    rate: "0.9",
    effective_at: "2026-01-01T00:00:00Z",
  });
  const [run] = await h.sql`
    insert into validation_runs (offer_id, settings, created_by) values (${A.offer.id}, '{}', 'test') returning id`;
  const [imp] = await h.sql`
    insert into imports (actor, advertiser_id, filename) values ('test', ${A.advertiser.id}, 'x.csv') returning id`;
  const [audit] = await h.sql`select max(id)::text as id from audit_log`;
  const [apiKey] = await h.sql`select max(id)::text as id from api_keys`;
  await h.ok("POST", "/v1/user-invitations", { email: "invited@example.test", role: "analyst" });
  const ipList = await h.ok<{ id: string }>("POST", "/v1/ip-lists", {
    name: "Data centres",
    kind: "datacenter",
  });
  await h.sql`insert into traffic_rules (reason, event, threshold, action) values ('ctit_too_fast', 'ftd', 10, 'hold')`;
  // A held and a rejected review, each with the rule hit behind it (the review queue and its report).
  for (const [p, state] of [
    [A, "held"],
    [B, "rejected"],
  ] as const) {
    await h.sql`insert into conversion_rule_hits (conversion_id, reason, action, measured)
                values (${p.owned.conversion}, 'ctit_too_fast', 'hold', ${h.sql.json({ seconds: 3 })})`;
    await h.sql`insert into conversion_reviews (conversion_id, state, reasons)
                values (${p.owned.conversion}, ${state}, ${["ctit_too_fast"]})`;
  }
  // A Meta destination and its forward of A's conversion: the body carries the visitor's IP and
  // user agent, so no affiliate read path may reach it (it belongs to no affiliate).
  const destination = await h.ok<{ id: string }>("POST", "/v1/conversion-destinations", {
    brand_id: A.brand.id,
    platform: "meta",
    name: "Meta",
    platform_account: "1234567890123",
    access_token: "EAAB-never-shown-token",
    app_secret: "never-shown-app-secret",
    events: { ftd: { name: "Purchase" } },
  });
  await h.sql`
    insert into deliveries (conversion_id, change_seq, destination_id, method, url, body, content_type, platform_event_id)
    values (${A.owned.conversion}, 1, ${destination.id}, 'POST', 'https://graph.facebook.com/v24.0/1234567890123/events',
            ${JSON.stringify({ data: [{ user_data: { client_ip_address: VISITOR.ip, client_user_agent: VISITOR.userAgent } }] })},
            'application/json', ${A.owned.marker})`;
  const [user] = await h.sql`
    insert into users (email, role, password_hash, totp_secret)
    values ('person@example.test', 'manager', 'not-a-real-hash', 'JBSWY3DPEHPK3PXP') returning id::text`;
  Object.assign(staffIds, {
    validationRun: run?.id,
    import: imp?.id,
    audit: audit?.id,
    apiKey: apiKey?.id,
    user: user?.id,
    ipList: ipList.id,
    destination: destination.id,
  });
}, 90_000);

afterAll(async () => {
  await h?.cleanup();
});

/** Rows of a JSON or CSV answer. */
function rowsOf(read: Read, a: { body: Body; text: string; headers: Headers }): Row[] {
  if (a.headers.get("content-type")?.startsWith("text/csv")) {
    const [header] = parse(a.text, { to: 1 }) as string[][];
    const records = parse(a.text, { columns: true }) as Row[];
    // A CSV with no rows still declares its columns.
    return records.length ? records : [Object.fromEntries((header ?? []).map((c) => [c, ""]))];
  }
  if (read.rows) return read.rows(a.body);
  return Array.isArray(a.body?.data) ? a.body.data : [a.body];
}

/** Columns of `row` (and of its nested rows) outside the allow-list. */
function outside(row: Row, columns: Columns, role: Role, nested: Record<string, Resource> = {}): string[] {
  const extra: string[] = [];
  for (const [k, v] of Object.entries(row)) {
    if (SECRET_COLUMNS.includes(k)) extra.push(k);
    else if (columns !== EVERY_COLUMN && !columns?.includes(k)) extra.push(k);
    const inner = nested[k];
    if (inner && Array.isArray(v))
      for (const r of v)
        extra.push(...outside(r as Row, columnsFor(inner, role), role).map((c) => `${k}.${c}`));
  }
  return extra;
}

describe("one allow-list per role and resource, on every read path", () => {
  test("every GET route of the app is classified (a new read route must be added here)", () => {
    const unclassified = routeKeys().filter((k) => k.startsWith("GET ") && !(k in READS) && !NOT_ROWS.has(k));
    expect(unclassified).toEqual([]);
    // And the table names no route the app does not have.
    expect(Object.keys(READS).filter((k) => !routeKeys().includes(k))).toEqual([]);
  });

  test("every resource of the allow-list is read by some route; affiliates never get visitor data", () => {
    const read = new Set(Object.values(READS).flatMap((r) => [r.resource, ...Object.values(r.nested ?? {})]));
    // Reconciliation reads an uploaded file (POST): it is refused to affiliates below, with every write.
    expect(Object.keys(VISIBILITY).filter((r) => !read.has(r as Resource) && r !== "reconciliation")).toEqual(
      [],
    );
    for (const [resource, rule] of Object.entries(VISIBILITY)) {
      const columns = rule.affiliate as Columns;
      expect(columns, resource).not.toBe(EVERY_COLUMN);
      for (const hidden of ["ip", "user_agent", "remote_address", "revenue", "profit", "advertiser_id"])
        expect(columns ?? [], `${resource}.${hidden}`).not.toContain(hidden);
    }
  });

  for (const role of ROLES) {
    test(`${role}: each read answers the role's columns only, or 403 when it may not read the resource`, async () => {
      const problems: string[] = [];
      for (const [route, read] of Object.entries(READS)) {
        const columns = columnsFor(read.resource, role);
        for (const path of read.paths(A)) {
          const a = await h.call("GET", path, keyOf(role));
          const where = `${role} ${route} (${path})`;
          if (columns === null) {
            if (a.status !== 403) problems.push(`${where}: ${a.status}, expected 403`);
            continue;
          }
          if (a.status !== 200) {
            problems.push(`${where}: ${a.status} ${a.text.slice(0, 200)}`);
            continue;
          }
          const rows = rowsOf(read, a);
          if (rows.length === 0) problems.push(`${where}: no rows (the check would be empty)`);
          for (const row of rows) {
            const extra = outside(row, columns, role, read.nested);
            if (extra.length) problems.push(`${where}: columns outside the allow-list: ${extra.join(", ")}`);
          }
          if (role === "affiliate") {
            for (const seen of [VISITOR.ip, VISITOR.userAgent, B.owned.marker, B.owned.click])
              if (a.text.includes(seen)) problems.push(`${where}: shows ${seen}`);
            for (const row of rows)
              if ("affiliate_id" in row && row.affiliate_id !== A.affiliate.id && row.affiliate_id !== "")
                problems.push(`${where}: a row of affiliate ${String(row.affiliate_id)}`);
          }
        }
      }
      expect(problems).toEqual([]);
    }, 60_000);
  }

  test("an affiliate asking for another's data by id or filter gets 404/403 or only its own rows", async () => {
    const problems: string[] = [];
    const byFilter = [
      `/v1/conversions?affiliate_id=${B.affiliate.id}`,
      `/v1/conversions?txid=${B.owned.marker}`,
      `/v1/clicks?affiliate_id=${B.affiliate.id}`,
      `/v1/links?affiliate_id=${B.affiliate.id}`,
      `/v1/deliveries?conversion_id=${B.owned.conversion}`,
      `/v1/ledger-entries?conversion_id=${B.owned.conversion}`,
      `/v1/balances?affiliate_id=${B.affiliate.id}`,
      `/v1/webhook-secrets?affiliate_id=${B.affiliate.id}`,
      `/v1/conversions/export?affiliate_id=${B.affiliate.id}`,
      `/v1/reports/performance?affiliate_id=${B.affiliate.id}&group_by=sub1`,
      `/v1/reports/deliveries?affiliate_id=${B.affiliate.id}&group_by=affiliate`,
    ];
    const byId = Object.entries(READS)
      .filter(([route]) => route.includes("/:"))
      .flatMap(([, read]) => read.paths(B));
    for (const path of [...byId, ...byFilter]) {
      const a = await h.call("GET", path, A.key);
      if (![200, 403, 404].includes(a.status)) problems.push(`${path}: ${a.status}`);
      if (byId.includes(path) && a.status === 200) problems.push(`${path}: 200 for another's record`);
      for (const seen of [B.owned.marker, B.owned.click, `"affiliate_id":"${B.affiliate.id}"`])
        if (a.text.includes(seen)) problems.push(`${path}: shows ${seen}`);
    }
    expect(problems).toEqual([]);
  });

  test("no write, upload or replay succeeds with an affiliate key", async () => {
    const problems: string[] = [];
    const fill: Record<string, string> = { id: B.owned.delivery, code: "ftd", click_id: B.owned.click };
    for (const route of h.app.routes) {
      if (route.method === "GET" || route.path.startsWith("/demo")) continue;
      // An affiliate may send a test to its own template: B's is the one to be refused.
      const given =
        route.path === "/v1/affiliate-postbacks/:id/test" ? { ...fill, id: B.owned.template } : fill;
      const path = route.path.replace(/:(\w+)/g, (_, name: string) => given[name] ?? "1");
      const a = await h.call(route.method, path, A.key, {});
      if (a.status < 400 || a.status >= 500) problems.push(`${route.method} ${route.path}: ${a.status}`);
    }
    expect(problems).toEqual([]);
  });
});
