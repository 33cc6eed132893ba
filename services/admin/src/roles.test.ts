import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { subjects, subscribe } from "@roundtrip/bus";
import { adminHarness, type Harness } from "./test-support.ts";
import { type Owned, type Partner, seedPartner } from "./testing/partners.ts";

let h: Harness;
let A: Partner;
let B: Partner;
let keyA: string;
let keyB: string;
/** Per partner: the IDs of everything it owns, and strings that only its data contains. */
const owned = {} as Record<"A" | "B", Owned>;

beforeAll(async () => {
  h = await adminHarness("roles");
  A = await seedPartner(h, "A");
  B = await seedPartner(h, "B");
  owned.A = A.owned;
  owned.B = B.owned;
  keyA = A.key;
  keyB = B.key;
}, 60_000);

afterAll(async () => {
  await h?.cleanup();
});

describe("every affiliate-scoped endpoint refuses another affiliate's data", () => {
  // Affiliate A asks for B's things by ID and by filter; it must get 404 or only its own rows,
  // and nothing it receives may contain anything of B's.
  const walk = () => [
    `/v1/affiliates/${B.affiliate.id}`,
    `/v1/affiliates`,
    `/v1/links/${B.link.id}`,
    `/v1/links?affiliate_id=${B.affiliate.id}`,
    `/v1/links?offer_id=${B.offer.id}`,
    `/v1/offers/${B.offer.id}`,
    `/v1/offers?brand_id=${B.brand.id}`,
    `/v1/brands/${B.brand.id}`,
    `/v1/brands`,
    `/v1/clicks/${owned.B.click}`,
    `/v1/clicks?affiliate_id=${B.affiliate.id}`,
    `/v1/clicks?offer_id=${B.offer.id}`,
    `/v1/conversions/${owned.B.conversion}`,
    `/v1/conversions?affiliate_id=${B.affiliate.id}`,
    `/v1/conversions?offer_id=${B.offer.id}`,
    `/v1/conversions?txid=${owned.B.marker}`,
    `/v1/conversions/export?affiliate_id=${B.affiliate.id}`,
    `/v1/ledger-entries/${owned.B.entry}`,
    `/v1/ledger-entries?affiliate_id=${B.affiliate.id}`,
    `/v1/ledger-entries?conversion_id=${owned.B.conversion}`,
    `/v1/affiliate-postbacks/${owned.B.template}`,
    `/v1/affiliate-postbacks?affiliate_id=${B.affiliate.id}`,
    `/v1/deliveries/${owned.B.delivery}`,
    `/v1/deliveries?affiliate_id=${B.affiliate.id}`,
    `/v1/deliveries?conversion_id=${owned.B.conversion}`,
    `/v1/reports/performance?affiliate_id=${B.affiliate.id}&group_by=day,affiliate,sub1`,
    `/v1/reports/performance?offer_id=${B.offer.id}`,
    `/v1/reports/performance?format=csv&group_by=sub1`,
    `/v1/reports/deliveries?affiliate_id=${B.affiliate.id}&group_by=affiliate`,
  ];

  test("affiliate A never sees B's data, by ID or by filter", async () => {
    for (const path of walk()) {
      const a = await h.call("GET", path, keyA);
      expect([200, 403, 404], path).toContain(a.status);
      for (const secret of [owned.B.click, owned.B.marker, `"affiliate_id":"${B.affiliate.id}"`]) {
        expect(a.text.includes(secret), `${path} leaked ${secret}`).toBe(false);
      }
    }
  });

  test("by ID, another affiliate's record is simply not found", async () => {
    for (const path of walk().filter((p) => !p.includes("?") && /\/[^/]+\/[^/]+$/.test(p.slice(3)))) {
      if (path === "/v1/affiliates" || path === "/v1/brands") continue;
      expect((await h.call("GET", path, keyA)).status, path).toBe(404);
    }
  });

  test("each affiliate does see its own data (the scope is not just 'nothing')", async () => {
    for (const [key, mine] of [
      [keyA, owned.A],
      [keyB, owned.B],
    ] as const) {
      const clicks = await h.call<{ data: { click_id: string; ip?: string }[] }>("GET", "/v1/clicks", key);
      expect(clicks.body.data.map((c) => c.click_id)).toEqual([mine.click]);
      expect(clicks.body.data[0]?.ip).toBeUndefined(); // no visitor IPs for partners
      const conv = await h.call<{ ledger: Record<string, unknown>[] }>(
        "GET",
        `/v1/conversions/${mine.conversion}`,
        key,
      );
      expect(conv.status).toBe(200);
      expect(conv.body.ledger[0]).toMatchObject({ payout: "25.000000" });
      expect(conv.body.ledger[0]).not.toHaveProperty("revenue");
      const entries = await h.call<{ data: Record<string, unknown>[] }>("GET", "/v1/ledger-entries", key);
      expect(entries.body.data.map((e) => e.id)).toEqual([mine.entry]);
      expect(entries.body.data[0]).not.toHaveProperty("revenue");
      expect((await h.call("GET", `/v1/deliveries/${mine.delivery}`, key)).status).toBe(200);
      expect((await h.call("GET", `/v1/affiliate-postbacks/${mine.template}`, key)).status).toBe(200);
      const report = await h.call<{ rows: Record<string, unknown>[]; totals: Record<string, unknown>[] }>(
        "GET",
        "/v1/reports/performance?group_by=sub1",
        key,
      );
      expect(report.body.rows).toEqual([
        expect.objectContaining({ sub1: mine.marker, clicks: 10, conversions: 1, payout: "25.00" }),
      ]);
      expect(report.body.rows[0]).not.toHaveProperty("revenue");
      expect(report.body.rows[0]).not.toHaveProperty("profit");
    }
  });
});

describe("roles", () => {
  const staffReads = () => [
    `/v1/advertisers`,
    `/v1/advertisers/${A.advertiser.id}`,
    `/v1/advertisers/${A.advertiser.id}/postback-guide`,
    `/v1/payout-rules`,
    `/v1/audit-log`,
    `/v1/trace?click_id=${owned.A.click}`,
    `/v1/validation-runs`,
    `/v1/reports/postbacks`,
    `/v1/reports/s2s-vs-pixel`,
  ];

  test("staff reads: admin, manager and analyst yes; affiliate 403", async () => {
    for (const path of staffReads()) {
      for (const key of [h.keys.admin, h.keys.manager, h.keys.analyst])
        expect((await h.call("GET", path, key)).status, path).toBe(200);
      const refused = await h.call<{ error: { code: string } }>("GET", path, keyA);
      expect(refused.status, path).toBe(403);
      expect(refused.body.error.code).toBe("forbidden");
    }
  });

  const writes = () =>
    [
      ["POST", "/v1/affiliates", { name: "New" }],
      ["PATCH", `/v1/affiliates/${A.affiliate.id}`, { name: "Renamed" }],
      ["POST", "/v1/advertisers", { brand_id: A.brand.id, name: "Adv" }],
      ["PATCH", `/v1/advertisers/${A.advertiser.id}`, { name: "Casino 2" }],
      ["POST", `/v1/advertisers/${A.advertiser.id}/rotate-token`, undefined],
      ["PATCH", `/v1/offers/${A.offer.id}`, { name: "Welcome 2" }],
      ["PUT", `/v1/offers/${A.offer.id}/events/deposit`, { window_days: 60 }],
      ["POST", "/v1/links", { offer_id: A.offer.id, affiliate_id: A.affiliate.id }],
      ["PATCH", `/v1/links/${A.link.id}`, { status: "active" }],
      [
        "POST",
        "/v1/payout-rules",
        { offer_id: A.offer.id, event: "ftd", model: "cpa", payout: "10", currency: "EUR" },
      ],
      [
        "POST",
        "/v1/affiliate-postbacks",
        { affiliate_id: A.affiliate.id, url_template: "https://a.example/pb?c={click_id}" },
      ],
    ] as const;

  test("configuration writes: admin and manager yes; analyst and affiliate 403", async () => {
    for (const [method, path, body] of writes()) {
      for (const key of [h.keys.analyst, keyA]) {
        const refused = await h.call<{ error: { code: string } }>(method, path, key, body);
        expect(refused.status, `${method} ${path}`).toBe(403);
      }
      for (const key of [h.keys.manager, h.keys.admin]) {
        const done = await h.call(method, path, key, body);
        expect(done.status, `${method} ${path} ${done.text}`).toBeLessThan(300);
      }
    }
    for (const key of [h.keys.analyst, keyA]) {
      expect(
        (await h.call("POST", "/v1/validation-runs", key, { offer_id: A.offer.id, token: "x" })).status,
      ).toBe(403);
    }
  });

  test("brands and API keys: admin only", async () => {
    const adminOnly = [
      ["POST", "/v1/brands", { slug: `s${crypto.randomUUID().slice(0, 6)}`, name: "S", currency: "EUR" }],
      ["PATCH", `/v1/brands/${A.brand.id}`, { name: "Renamed brand" }],
      ["POST", "/v1/api-keys", { name: "k", role: "analyst" }],
      ["GET", "/v1/api-keys", undefined],
    ] as const;
    for (const [method, path, body] of adminOnly) {
      for (const key of [h.keys.manager, h.keys.analyst, keyA])
        expect((await h.call(method, path, key, body)).status, `${method} ${path}`).toBe(403);
      expect((await h.call(method, path, h.keys.admin, body)).status, `${method} ${path}`).toBeLessThan(300);
    }
  });

  test("no key, an unknown key or a revoked key is 401 everywhere", async () => {
    const created = await h.ok<{ id: string; key: string }>("POST", "/v1/api-keys", {
      name: "temp",
      role: "analyst",
    });
    expect((await h.call("GET", "/v1/offers", created.key)).status).toBe(200);
    await h.ok("DELETE", `/v1/api-keys/${created.id}`);
    for (const key of [null, "rt_unknown_key_000000000000", created.key]) {
      for (const path of ["/v1/offers", "/v1/conversions", "/v1/reports/performance", "/v1/me"]) {
        const a = await h.call<{ error: { code: string } }>("GET", path, key);
        expect(a.status, path).toBe(401);
        expect(a.body.error.code).toBe("unauthorized");
      }
    }
    const [row] = await h.sql`select last_used_at, revoked_at from api_keys where id = ${created.id}`;
    expect(row?.last_used_at).toBeInstanceOf(Date);
    expect(row?.revoked_at).toBeInstanceOf(Date);
  });

  test("an affiliate key must name an existing affiliate", async () => {
    const a = await h.call<{ error: { field: string } }>("POST", "/v1/api-keys", h.keys.admin, {
      name: "k",
      role: "affiliate",
    });
    expect(a.status).toBe(400);
    expect(a.body.error.field).toBe("affiliate_id");
    const b = await h.call<{ error: { field: string } }>("POST", "/v1/api-keys", h.keys.admin, {
      name: "k",
      role: "affiliate",
      affiliate_id: "999999",
    });
    expect(b.body.error.field).toBe("affiliate_id");
  });
});

describe("secrets are write-only", () => {
  test("an advertiser token is shown once and never again, nor in the audit log", async () => {
    const created = await h.ok<{ id: string; token: string }>("POST", "/v1/advertisers", {
      brand_id: A.brand.id,
      name: "Secret Co",
    });
    expect(created.token.length).toBeGreaterThanOrEqual(24);
    const rotated = await h.ok<{ token: string }>("POST", `/v1/advertisers/${created.id}/rotate-token`);
    expect(rotated.token).not.toBe(created.token);
    const [row] = await h.sql`select token_hash from advertisers where id = ${created.id}`;
    for (const path of [
      `/v1/advertisers/${created.id}`,
      "/v1/advertisers?limit=500",
      `/v1/advertisers/${created.id}/postback-guide`,
      "/v1/audit-log?resource=advertisers&limit=500",
    ]) {
      const a = await h.call("GET", path, h.keys.admin);
      for (const secret of [created.token, rotated.token, row?.token_hash as string, "token_hash"]) {
        expect(a.text.includes(secret), `${path} shows ${secret.slice(0, 6)}…`).toBe(false);
      }
    }
  });

  test("an API key is shown once; lists show its prefix only", async () => {
    const created = await h.ok<{ id: string; key: string }>("POST", "/v1/api-keys", {
      name: "shown once",
      role: "manager",
    });
    for (const path of [
      "/v1/api-keys?limit=500",
      `/v1/api-keys/${created.id}`,
      "/v1/audit-log?resource=api-keys",
    ]) {
      const a = await h.call("GET", path, h.keys.admin);
      expect(a.text.includes(created.key)).toBe(false);
      expect(a.text.includes("key_hash")).toBe(false);
    }
  });

  test("a validation run's advertiser token is kept nowhere", async () => {
    const token = `tok_${crypto.randomUUID()}`;
    const run = await h.ok<{ id: string }>("POST", "/v1/validation-runs", { offer_id: A.offer.id, token });
    await h.app.drain();
    const rows = await h.sql`select row_to_json(v)::text as j from validation_runs v where id = ${run.id}
                             union all select row_to_json(a)::text from audit_log a`;
    for (const r of rows) expect((r.j as string).includes(token)).toBe(false);
  });
});

describe("audit and change notices", () => {
  test("a PATCH is audited with who, before and after, and announced on NATS for the caches", async () => {
    const seen: string[] = [];
    const stop = subscribe(h.bus, subjects.configChangedAll(), (subject) => seen.push(subject));
    try {
      await h.bus.nc.flush();
      const offer = await h.call<{ status: string }>("PATCH", `/v1/offers/${B.offer.id}`, h.keys.manager, {
        status: "paused",
      });
      expect(offer.body.status).toBe("paused");
      const deadline = Date.now() + 5_000;
      while (!seen.includes("config.changed.offers") && Date.now() < deadline) await Bun.sleep(20);
      expect(seen).toContain("config.changed.offers");
    } finally {
      stop();
    }
    const log = await h.call<{
      data: {
        actor: string;
        action: string;
        before: { status: string };
        after: { status: string };
        at: string;
      }[];
    }>("GET", `/v1/audit-log?resource=offers&resource_id=${B.offer.id}&action=update`, h.keys.analyst);
    expect(log.body.data[0]).toMatchObject({
      action: "update",
      before: { status: "active" },
      after: { status: "paused" },
    });
    expect(log.body.data[0]?.actor).toMatch(/^api-key:\d+:manager key$/);
    expect(Date.parse(log.body.data[0]?.at as string)).toBeGreaterThan(Date.now() - 60_000);
  });

  test("every kind of change leaves an audit entry", async () => {
    const [{ n }] =
      (await h.sql`select count(distinct resource || ':' || action)::int as n from audit_log`) as unknown as [
        { n: number },
      ];
    const kinds = await h.sql`select distinct resource, action from audit_log order by 1, 2`;
    const have = kinds.map((k) => `${k.resource}:${k.action}`);
    for (const want of [
      "affiliates:create",
      "affiliates:update",
      "advertisers:create",
      "advertisers:update",
      "advertisers:rotate-token",
      "brands:create",
      "brands:update",
      "offers:create",
      "offers:update",
      "offer-events:create",
      "links:create",
      "links:update",
      "payout-rules:create",
      "affiliate-postbacks:create",
      "api-keys:create",
      "api-keys:revoke",
      "validation-runs:create",
    ]) {
      expect(have).toContain(want);
    }
    expect(n).toBeGreaterThan(10);
  });
});

describe("input validation: one error shape naming the field", () => {
  test("bad values, unknown macros and unknown fields", async () => {
    const cases = [
      [
        "POST",
        "/v1/offers",
        {
          brand_id: A.brand.id,
          advertiser_id: A.advertiser.id,
          name: "x",
          destination_url: "https://x.example/?c={click_id}",
          currency: "euro",
          events: [{ code: "ftd" }],
        },
        "currency",
      ],
      [
        "POST",
        "/v1/offers",
        {
          brand_id: A.brand.id,
          advertiser_id: A.advertiser.id,
          name: "x",
          destination_url: "https://x.example/?c={clickid}",
          currency: "EUR",
          events: [{ code: "ftd" }],
        },
        "destination_url",
      ],
      [
        "POST",
        "/v1/offers",
        {
          brand_id: B.brand.id,
          advertiser_id: A.advertiser.id,
          name: "x",
          destination_url: "https://x.example/",
          currency: "EUR",
          events: [{ code: "ftd" }],
        },
        "brand_id",
      ],
      ["PATCH", `/v1/links/${A.link.id}`, { status: "deleted" }, "status"],
      ["PATCH", `/v1/links/${A.link.id}`, { code: "new-code" }, "code"],
      ["PATCH", `/v1/links/${A.link.id}`, {}, "(body)"],
      ["PATCH", `/v1/brands/${A.brand.id}`, { timezone: "Mars/Olympus" }, "timezone"],
      ["GET", "/v1/reports/performance?group_by=day,planet", undefined, "group_by"],
      ["GET", "/v1/reports/performance?tz=Mars/Olympus", undefined, "tz"],
      ["GET", "/v1/clicks?from=2020-01-01&to=2021-01-01", undefined, "from"],
      ["GET", "/v1/conversions?cursor=abc", undefined, "cursor"],
    ] as const;
    for (const [method, path, body, field] of cases) {
      const a = await h.call<{ error: { code: string; message: string; field: string } }>(
        method,
        path,
        h.keys.admin,
        body,
      );
      expect(a.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(a.body.error.field, `${method} ${path} ${a.text}`).toBe(field);
      expect(typeof a.body.error.message).toBe("string");
    }
  });

  test("a missing record is 404 in the same shape", async () => {
    const a = await h.call<{ error: { code: string } }>("PATCH", "/v1/offers/999999", h.keys.admin, {
      name: "x",
    });
    expect(a.status).toBe(404);
    expect(a.body.error.code).toBe("not_found");
  });
});

describe("pagination", () => {
  test("cursor pages cover every row exactly once, in both orders", async () => {
    for (let i = 0; i < 7; i++) await h.ok("POST", "/v1/affiliates", { name: `Paged ${i}` });
    for (const order of ["asc", "desc"]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: { body: { data: { id: string }[]; next_cursor: string | null } } = await h.call(
          "GET",
          `/v1/affiliates?limit=3&order=${order}${cursor ? `&cursor=${cursor}` : ""}`,
          h.keys.analyst,
        );
        seen.push(...res.body.data.map((r) => r.id));
        cursor = res.body.next_cursor;
      } while (cursor);
      const all = (await h.sql`select id from affiliates order by id`).map((r) => r.id as string);
      expect(seen).toEqual(order === "asc" ? all : [...all].reverse());
    }
  });
});
