/**
 * Hostile requests against a real admin process (`bun services/admin/src/index.ts`, with an admin
 * API key), generated with fast-check across every route of its route table: control characters,
 * NUL, lone surrogates, numbers past every range, wrong types, wrong and missing content types,
 * malformed and huge bodies. Admin must answer each without a 5xx, and nothing it stored may hold
 * text PostgreSQL would have changed or that no one typed on purpose.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import fc from "fast-check";
import { textProblem } from "./storable-input.ts";
import { adminHarness, type Harness } from "./test-support.ts";
import { type Partner, seedPartner } from "./testing/partners.ts";

let h: Harness;
let P: Partner;

beforeAll(async () => {
  h = await adminHarness("fuzz", {
    process: true,
    // Nothing listens there: anything admin itself calls fails fast instead of waiting on DNS.
    publicClickUrl: "http://127.0.0.1:9",
    publicGatewayUrl: "http://127.0.0.1:9",
    env: { DEMO_ADVERTISER_TOKEN: "demo-token-for-the-fuzz" },
  });
  P = await seedPartner(h, "F");
}, 60_000);

afterAll(async () => {
  await h?.cleanup();
});

type Schema = {
  type?: string;
  format?: string;
  minimum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  const?: unknown;
  anyOf?: Schema[];
  properties?: Record<string, Schema>;
  items?: Schema;
};
type Hooks = { params?: Schema; query?: Schema; body?: Schema };

const HOSTILE_TEXT = [
  "\u0000",
  "a\u0000b",
  "\ud800",
  "x\udfff",
  "\udc00\ud800",
  "\u0001",
  "tab\tand\u000bvt",
  "\u007f",
  "%00",
  "%",
  "9223372036854775808",
  "99999999999999999999999999999",
  "-1",
  "0",
  "007",
  "1e308",
  "-0",
  "NaN",
  "Infinity",
  "",
  " ",
  "../../etc/passwd",
  "<script>alert(1)</script>",
  "' or 1=1 --",
  "{click_id}",
  "\\",
  '"',
  "__proto__",
  "constructor",
  "2026-13-45T99:99:99Z",
  "\u202e\ufeff",
  "😀",
];

const hostileString = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_TEXT) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 30 }) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String) },
  { weight: 1, arbitrary: fc.string({ minLength: 3000, maxLength: 6000 }) },
);

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      1e308,
      -1e308,
      2 ** 63,
      -(2 ** 63),
      Number.MAX_SAFE_INTEGER + 2,
      0.1,
      -1,
      0,
      true,
      false,
      null,
    ),
  },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.array(hostileString, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(hostileString, hostileString, { maxKeys: 3 }) },
);

const branches = (s: Schema | undefined): Schema[] => (s?.anyOf ? s.anyOf.flatMap(branches) : s ? [s] : []);

/** A value the schema would accept, as far as a quick reading of it goes (so requests get past validation). */
function plausible(name: string, schema: Schema | undefined): unknown {
  // Elysia's integers are a union with numeric strings, optional caps a union with null: take the
  // branch a client would send (a constant, else a number, else the first that is not null).
  const options = branches(schema).filter((b) => b.type !== "null");
  const constant = options.find((b) => b.const !== undefined);
  if (constant) return constant.const;
  const s =
    options.find((b) => b.type === "integer" || b.type === "number") ??
    options.find((b) => b.format !== "integer") ??
    options[0];
  if (name === "id" || name.endsWith("_id"))
    return (
      (
        {
          brand_id: P.brand.id,
          advertiser_id: P.advertiser.id,
          offer_id: P.offer.id,
          affiliate_id: P.affiliate.id,
          conversion_id: P.owned.conversion,
          template_id: P.owned.template,
          link_id: P.link.id,
          click_id: P.owned.click,
        } as Record<string, string>
      )[name] ?? P.owned.delivery
    );
  if (name === "quote") return "USD";
  if (name.endsWith("currency") || name === "base") return "EUR";
  if (name === "timezone" || name === "tz") return "UTC";
  switch (s?.type) {
    case "integer":
    case "number":
      return s.minimum ?? 1;
    case "boolean":
      return true;
    case "array":
      return s.items ? [plausible(name, s.items)] : [];
    case "object":
      return Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, plausible(k, v)]));
    default: {
      if (s?.format === "date-time") return "2026-01-01T00:00:00Z";
      // The first of a few everyday values that the field's pattern takes.
      const pattern = s?.pattern ? new RegExp(s.pattern) : null;
      const fits = (v: string) =>
        (!pattern || pattern.test(v)) && v.length >= (s?.minLength ?? 0) && v.length <= (s?.maxLength ?? 1e9);
      return SAMPLES.find(fits) ?? "x";
    }
  }
}

const SAMPLES = [
  "fuzz",
  "EUR",
  "ftd",
  "10",
  "2026-01-01",
  "https://fuzz.example/pb?c={click_id}",
  "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
  "active",
];

/** A path parameter that names something that exists: `:id` is the id of the path's resource. */
function pathValue(path: string, name: string): string {
  if (name === "code") return "ftd";
  if (name !== "id") return String(plausible(name, undefined));
  const resource = path.split("/")[2] ?? "";
  const ids: Record<string, string> = {
    brands: P.brand.id,
    advertisers: P.advertiser.id,
    offers: P.offer.id,
    affiliates: P.affiliate.id,
    links: P.link.id,
    conversions: P.owned.conversion,
    "ledger-entries": P.owned.entry,
    "affiliate-postbacks": P.owned.template,
    "webhook-secrets": P.owned.secret,
    deliveries: P.owned.delivery,
  };
  return ids[resource] ?? "1";
}

/** Each known field plausible, hostile or absent; now and then a field the schema does not have. */
const fields = (schema: Schema | undefined, value: fc.Arbitrary<unknown>) => {
  const entries = Object.entries(schema?.properties ?? {}).map(([name, s]) =>
    fc
      .oneof(
        { weight: 5, arbitrary: fc.constant(plausible(name, s)) },
        { weight: 3, arbitrary: value },
        { weight: 2, arbitrary: fc.constant(undefined) },
      )
      .map((v) => [name, v] as const),
  );
  return fc
    .tuple(fc.tuple(...entries), fc.option(fc.tuple(hostileString, value), { freq: 4 }))
    .map(([known, extra]) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of known) if (v !== undefined) out[k] = v;
      if (extra) Object.defineProperty(out, extra[0], { value: extra[1], enumerable: true });
      return out;
    });
};

/** Percent-encoding that also carries what encodeURIComponent refuses (a lone surrogate, as CESU-8 bytes). */
function encode(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return [...text]
      .map((c) => {
        const code = c.charCodeAt(0);
        if (c.length === 1 && code >= 0xd800 && code <= 0xdfff)
          return `%${(0xe0 | (code >> 12)).toString(16)}%${(0x80 | ((code >> 6) & 0x3f)).toString(16)}%${(0x80 | (code & 0x3f)).toString(16)}`.toUpperCase();
        return encodeURIComponent(c);
      })
      .join("");
  }
}

type Body = { contentType?: string; payload?: string | Blob };

const body = (schema: Schema | undefined): fc.Arbitrary<Body> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fields(schema, hostileValue).map((o) => ({
        contentType: "application/json",
        payload: JSON.stringify(o),
      })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom<Body>(
        // JSON.parse turns the escape into a lone surrogate.
        { contentType: "application/json", payload: '{"name":"\\ud800","url_template":"\\u0000"}' },
        { contentType: "application/json", payload: "{" },
        { contentType: "application/json", payload: "[1,2,3]" },
        { contentType: "application/json", payload: '"just a string"' },
        { contentType: "application/json", payload: "null" },
        { contentType: "application/json", payload: new Blob([new Uint8Array([0xff, 0xfe, 0x00, 0x7b])]) },
        { contentType: "text/plain", payload: '{"name":"x"}' },
        { contentType: "application/x-www-form-urlencoded", payload: "name=%00&brand_id=1" },
        { contentType: "multipart/form-data", payload: "--x\r\n\r\n" },
        {
          contentType: "multipart/form-data; boundary=zz",
          payload:
            '--zz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nclick_id,event\r\n\u0000,ftd\r\n--zz--\r\n',
        },
        { contentType: "text/csv", payload: "click_id,event,txid\r\nabc\u0000,ftd,\ud800\r\n" },
        { contentType: "application/xml", payload: "<a/>" },
        { contentType: undefined, payload: "name=x" },
        { contentType: "application/json", payload: JSON.stringify({ name: "x".repeat(3_000_000) }) },
        {},
      ),
    },
  );

/** Every route but revoking keys: the fuzz would revoke its own keys (that is no hostile input). */
const fuzzed = () =>
  h.app.routes
    .filter((r) => !(r.method === "DELETE" && r.path === "/v1/api-keys/:id"))
    .map((r) => ({ method: r.method, path: r.path, hooks: r.hooks as Hooks }));
const route = () => fc.constantFrom(...fuzzed());

/** What reaches the database only if nothing stops it: text that passes every pattern-free schema. */
// NUL fails any write (a 500 unless refused); a lone surrogate and a control character would be
// stored (one changed to U+FFFD), which the last test finds.
const POISON = ["a\u0000b", "\ud800x\u0001y"];

/** A whole plausible request part with one field poisoned. */
const plausibleWith = (schema: Schema | undefined, field: string, poison: unknown) =>
  Object.fromEntries(
    Object.entries(schema?.properties ?? {}).map(([name, s]) => [
      name,
      name === field ? poison : plausible(name, s),
    ]),
  );

async function send(
  method: string,
  url: string,
  init: { key?: string | null; contentType?: string; payload?: string | Blob },
) {
  const headers: Record<string, string> = {};
  if (init.key) headers.authorization = `Bearer ${init.key}`;
  if (init.contentType) headers["content-type"] = init.contentType;
  try {
    const res = await fetch(url, { method, headers, body: init.payload, redirect: "manual" });
    if (res.headers.get("content-type")?.startsWith("text/event-stream")) {
      // An event stream runs until what it watches is done — minutes for a test postback that
      // never comes: its status and first event are the answer; cancelling ends it on the server.
      const reader = res.body?.getReader();
      const first = await reader?.read();
      await reader?.cancel();
      return { status: res.status, text: first?.value ? new TextDecoder().decode(first.value) : "" };
    }
    return { status: res.status, text: await res.text() };
  } catch (err) {
    // A response cut off after its status line (a stream that failed midway) counts as a failure.
    return { status: 599, text: String(err) };
  }
}

test("every field of every route, poisoned one at a time, answers without a 5xx", async () => {
  const problems: string[] = [];
  const fill = (path: string, params: Record<string, unknown>) =>
    path.replace(/:(\w+)/g, (_, name: string) => encode(String(params[name] ?? pathValue(path, name))));
  for (const r of fuzzed()) {
    const cases: { where: string; url: string; payload?: string }[] = [];
    const plainPath = fill(r.path, {});
    const plainBody = r.method === "GET" ? undefined : JSON.stringify(plausibleWith(r.hooks.body, "", ""));
    for (const poison of POISON) {
      for (const name of Object.keys(r.hooks.params?.properties ?? {}))
        cases.push({ where: `path ${name}`, url: fill(r.path, { [name]: poison }), payload: plainBody });
      for (const name of Object.keys(r.hooks.query?.properties ?? {})) {
        // Alone: another field's plausible value ("fuzz" as a date) would stop the request first.
        cases.push({
          where: `query ${name}`,
          url: `${plainPath}?${name}=${encode(poison)}`,
          payload: plainBody,
        });
      }
    }
    // Body fields get the text poisons and numbers past every column's range.
    if (r.method !== "GET")
      for (const poison of [...POISON, 1e20, -(2 ** 63)])
        for (const name of Object.keys(r.hooks.body?.properties ?? {}))
          cases.push({
            where: `body ${name}=${JSON.stringify(poison)}`,
            url: plainPath,
            payload: JSON.stringify(plausibleWith(r.hooks.body, name, poison)),
          });
    for (const c of cases) {
      const a = await send(r.method, `${h.url}${c.url}`, {
        key: h.keys.admin,
        contentType: "application/json",
        payload: c.payload,
      });
      if (a.status >= 500)
        problems.push(`${r.method} ${r.path} (${c.where}): ${a.status} ${a.text.slice(0, 100)}`);
    }
  }
  expect(problems, h.serverLog().slice(-2000)).toEqual([]);
}, 120_000);

test("no hostile request makes admin answer 5xx", async () => {
  const keys = [h.keys.admin, h.keys.admin, h.keys.admin, h.keys.manager, P.key, null];
  const requests = route().chain((r) =>
    fc.record({
      route: fc.constant(r),
      params: fields(r.hooks.params, hostileString),
      query: fields(r.hooks.query, fc.oneof(hostileString, fc.array(hostileString, { maxLength: 2 }))),
      body: r.method === "GET" ? fc.constant<Body>({}) : body(r.hooks.body),
      key: fc.constantFrom(...keys),
    }),
  );
  let sent = 0;
  const statuses: Record<number, number> = {};
  await fc.assert(
    fc.asyncProperty(requests, async ({ route, params, query, body, key }) => {
      const path = route.path.replace(/:(\w+)/g, (_, name: string) =>
        encode(String(params[name] ?? pathValue(route.path, name))),
      );
      const search = Object.entries(query)
        .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${encode(k)}=${encode(String(x))}`))
        .join("&");
      const url = `${h.url}${path}${search ? `?${search}` : ""}`;
      const res = await send(route.method, url, {
        key,
        contentType: body.contentType,
        payload: body.payload,
      });
      sent++;
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      // A server may answer a huge body early (401, 413) and close the connection while the
      // client is still sending it: that reset is the client's, not a failure of admin.
      const huge = typeof body.payload === "string" && body.payload.length > 1_000_000;
      if (res.status >= 500 && !(res.status === 599 && huge))
        throw new Error(
          `${route.method} ${url.slice(0, 300)} → ${res.status} ${res.text.slice(0, 200)}\n${h.serverLog().slice(-1500)}`,
        );
    }),
    { numRuns: 300, endOnFailure: true },
  );
  expect(sent).toBeGreaterThanOrEqual(300);
  // Not vacuous: a good share got past authentication and validation into the handlers.
  const handled = Object.entries(statuses)
    .filter(([status]) => Number(status) < 300)
    .reduce((n, [, count]) => n + count, 0);
  expect(handled, JSON.stringify(statuses)).toBeGreaterThan(25);
  // And the fixed hostile cases on every route, so none is left to chance.
  for (const r of h.app.routes) {
    const path = r.path.replace(/:(\w+)/g, "%00");
    for (const q of ["?cursor=%00&limit=1e999", "?name=%ED%A0%80", "?affiliate_id=9223372036854775808"]) {
      const res = await fetch(`${h.url}${path}${q}`, {
        method: r.method,
        headers: { authorization: `Bearer ${h.keys.admin}`, "content-type": "application/json" },
        body: r.method === "GET" ? undefined : '{"name":"\\ud800"}',
        redirect: "manual",
      });
      expect(res.status, `${r.method} ${path}${q}: ${await res.text()}`).toBeLessThan(500);
    }
  }
  // A body past the server's limit (8 MiB) is refused by size, whatever the route.
  const oversized: [string, string][] = [
    ["POST", "/v1/affiliates"],
    ["POST", "/v1/imports"],
  ];
  for (const [method, path] of oversized) {
    const big = await send(method, `${h.url}${path}`, {
      key: h.keys.admin,
      contentType: path.endsWith("imports") ? "text/csv" : "application/json",
      payload: JSON.stringify({ name: "x".repeat(9 * 1024 * 1024) }),
    });
    // 413, or the connection closed while the client was still sending (never a 5xx answer).
    expect([413, 599], `${method} ${path} with 9 MiB: ${big.status} ${big.text.slice(0, 100)}`).toContain(
      big.status,
    );
  }
}, 120_000);

test("a route whose body is optional answers a body that is not JSON without a 5xx, and never stores an invalid time", async () => {
  const secret = await h.ok<{ id: string }>("POST", "/v1/webhook-secrets", { affiliate_id: P.affiliate.id });
  for (const [path, contentType, payload] of [
    [`/v1/webhook-secrets/${secret.id}/expire`, "text/csv", "click_id,event\r\nabc,ftd\r\n"],
    [`/v1/webhook-secrets/${secret.id}/expire`, "text/plain", "hello"],
    [`/v1/advertisers/${P.advertiser.id}/signing-secret`, "text/plain", "hello"],
  ] as const) {
    const res = await send("POST", `${h.url}${path}`, { key: h.keys.admin, contentType, payload });
    expect({ path, contentType, ok: [200, 400].includes(res.status) }).toEqual({
      path,
      contentType,
      ok: true,
    });
  }
  const [row] = await h.sql`select expires_at from affiliate_webhook_secrets where id = ${secret.id}`;
  expect(row?.expires_at === null || !Number.isNaN(new Date(row?.expires_at).getTime())).toBe(true);
});

test("/openapi.json of the running admin answers its document", async () => {
  const res = await fetch(`${h.url}/openapi.json`);
  expect(res.status).toBe(200);
  const doc = (await res.json()) as { paths: Record<string, unknown> };
  expect(Object.keys(doc.paths)).toContain("/v1/conversions");
});

test("nothing admin stored holds a NUL, a lone surrogate, a control character or a replacement character", async () => {
  const tables = await h.sql<{ name: string }[]>`
    select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition`;
  const problems: string[] = [];
  const walk = (value: unknown, where: string) => {
    if (typeof value === "string") {
      const problem = textProblem(value) ?? (value.includes("\ufffd") ? "holds U+FFFD" : null);
      if (problem) problems.push(`${where}: ${problem}: ${JSON.stringify(value.slice(0, 60))}`);
    } else if (value && typeof value === "object")
      for (const [k, v] of Object.entries(value)) {
        walk(k, `${where} (key)`);
        walk(v, `${where}.${k}`);
      }
  };
  for (const { name } of tables) {
    const rows = await h.sql`select row_to_json(t)::text as j from ${h.sql(name)} t limit 5000`;
    for (const r of rows) walk(JSON.parse(r.j as string), name);
  }
  expect(problems).toEqual([]);
});
