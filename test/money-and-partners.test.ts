import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac, timingSafeEqual } from "node:crypto";
import net from "node:net";
import { type ReceivedPostback, startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { createProgram, type Program } from "./support/fixtures.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

// A short retry schedule so "down for a while" fits in a test; production defaults to ~28 h.
const SCHEDULE = "0,0.3,0.6,1,1.5";

let env: TestStack;
const endpoints: { stop(): void }[] = [];

beforeAll(async () => {
  env = await startTestStack(
    "money",
    {
      DELIVERY_RETRY_SCHEDULE_S: SCHEDULE,
      DELIVERY_ALLOWED_CIDRS: "127.0.0.0/8",
      // the circuit of an endpoint that failed repeatedly probes again after half a second, not 30 s
      DELIVERY_BREAKER_HALF_OPEN_MS: "500",
      // blocked conversions (no FX rate yet) are settled again every half second, not every 30 s
      BLOCKED_RETRY_INTERVAL_MS: "500",
      // conversions over a cap are released every half second once there is room, not every 15 s
      CAP_RELEASE_INTERVAL_MS: "500",
    },
    { readyTimeoutMs: 90_000 },
  ); // a shared CI machine can be slow to start six services
}, 200_000);

afterAll(async () => {
  await env?.stop();
  for (const e of endpoints) e.stop();
}, 60_000);

async function click(program: Program): Promise<string> {
  const res = await eventually(async () => {
    const r = await fetch(`${env.urls.click}/c/${program.link.code}`, { redirect: "manual" });
    return r.status === 302 ? r : undefined;
  }, "the tracking link to redirect");
  return new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
}

async function postback(program: Program, params: Record<string, string>) {
  const res = await fetch(
    `${env.urls.gateway}/postback?${new URLSearchParams({ token: program.advertiser.token, ...params })}`,
  );
  expect(res.status).toBe(200);
}

type Balance = { currency: string; total: string; available: string; pending: string };
async function balance(affiliateId: string): Promise<string> {
  const { data } = await env.admin.get<{ data: Balance[] }>(`/v1/balances?affiliate_id=${affiliateId}`);
  return data.find((b) => b.currency === "EUR")?.total ?? "0.00";
}

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, "127.0.0.1");
  await new Promise((r) => s.once("listening", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Standard Webhooks verification from the spec (not the library the sender uses). */
function signedBy(secret: string, p: ReceivedPostback): boolean {
  const id = p.headers.get("webhook-id");
  const ts = p.headers.get("webhook-timestamp");
  const payload = `${p.url.pathname}${p.url.search}`;
  const expected = createHmac("sha256", Buffer.from(secret.replace(/^whsec_/, ""), "base64"))
    .update(`${id}.${ts}.${payload}`)
    .digest();
  return (p.headers.get("webhook-signature") ?? "").split(" ").some((s) => {
    const [v, sig] = s.split(",");
    const given = Buffer.from(sig ?? "", "base64");
    return v === "v1" && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

const forClick = (clickId: string) => (p: ReceivedPostback) => p.url.searchParams.get("cid") === clickId;

describe("money and partners, end to end", () => {
  test("issue 14: a parent earns its sub-affiliate share; a payout run pays, and the affiliate and the operator's webhook hear payout.paid and statement.ready, signed", async () => {
    const affiliate = startAffiliateEndpoint();
    endpoints.push(affiliate);
    const operator = startAffiliateEndpoint(); // the operator's finance system
    endpoints.push(operator);
    const program = await createProgram(env.admin, { postbackUrl: affiliate.url });
    const child = program.affiliate.id;
    const { secret } = await env.admin.post<{ secret: string }>("/v1/webhook-secrets", {
      affiliate_id: child,
    });
    const parent = await env.admin.post<{ id: string }>("/v1/affiliates", {
      name: "Parent",
      payout_currency: "EUR",
    });
    await env.admin.put(`/v1/affiliates/${parent.id}/payout-settings`, {
      cycle: "monthly",
      sub_share_percent: "10",
    });
    await env.admin.put(`/v1/affiliates/${child}/payout-settings`, {
      cycle: "custom",
      cycle_days: 1,
      parent_affiliate_id: parent.id,
    });
    await env.admin.put(`/v1/affiliates/${child}/payment-details`, {
      method: "paypal",
      account_reference: "child@aff.example",
    });
    await env.admin.post("/v1/affiliate-postbacks", {
      affiliate_id: child,
      method: "POST",
      url_template: `${affiliate.url}/partner`,
      partner_events: ["payout.paid", "statement.ready"],
    });
    const webhook = await env.admin.post<{ id: string; secret: string }>("/v1/operator-webhooks", {
      name: "Finance",
      url: `${operator.url}/ops`,
      events: ["payout.paid", "statement.ready"],
    });

    // commission books the child's FTD and, in the same transaction, the parent's 10 %
    const clickId = await click(program);
    await postback(program, {
      click_id: clickId,
      txid: "sub-ftd-1",
      event: "ftd",
      amount: "100.00",
      status: "approved",
    });
    const shares = await eventually(async () => {
      const rows = await env.sql`
        select e.type, e.tier, e.affiliate_payout::text, s.affiliate_id as source_affiliate from ledger_entries e
        join ledger_entries s on s.id = e.source_entry_id where e.affiliate_id = ${parent.id}`;
      return rows.length ? rows : undefined;
    }, "the parent's share");
    expect([...shares]).toEqual([
      { type: "sub_commission", tier: 2, affiliate_payout: "2.500000", source_affiliate: child },
    ]);

    // an amount the child earned yesterday, payable since: paid by today's run
    const midnight = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000);
    const yesterday = new Date(midnight.getTime() - 3_600_000);
    await env.sql`
      insert into ledger_entries (affiliate_id, type, payout, revenue, currency, affiliate_payout, affiliate_currency,
                                  available_at, created_at, reason, actor)
      values (${child}, 'adjustment', 60, 0, 'EUR', 60, 'EUR', ${yesterday}, ${yesterday}, 'earned yesterday', 'test')`;
    const run = await env.admin.post<{
      id: string;
      lines: { id: string; affiliate_id: string; amount: string }[];
    }>("/v1/payout-runs", { period_end: midnight.toISOString() });
    const line = run.lines.find((l) => l.affiliate_id === child);
    expect(line?.amount).toBe("60.00");
    // the approval itself closes the cycle: statement.ready reaches both endpoints before any result
    const readyAt = (endpoint: typeof affiliate, path: string) =>
      endpoint.received.some(
        (p) =>
          p.url.pathname === path &&
          JSON.parse(p.body).type === "statement.ready" &&
          JSON.parse(p.body).data?.affiliate_id === child,
      );
    await eventually(
      async () => readyAt(affiliate, "/partner") && readyAt(operator, "/ops"),
      "statement.ready at the affiliate and the operator after the approval",
    );
    const imported = await fetch(`${env.urls.admin}/v1/payout-runs/${run.id}/results`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.adminKey}`, "content-type": "text/csv" },
      body: `Reference ID,Status,Transaction ID\nRT-${line?.id},Success,PP-42\n`,
    });
    expect(await imported.json()).toEqual({ paid: 1, failed: 0, unchanged: 0, still_pending: 0 });

    const partnerEvents = () => affiliate.received.filter((p) => p.url.pathname.endsWith("/partner"));
    await eventually(
      async () => partnerEvents().length >= 2,
      "payout.paid and statement.ready at the affiliate",
    );
    const bodies = partnerEvents().map((p) => JSON.parse(p.body));
    expect(bodies.map((b) => b.type).sort()).toEqual(["payout.paid", "statement.ready"]);
    expect(bodies.find((b) => b.type === "payout.paid")?.data).toMatchObject({
      amount: "60.00",
      currency: "EUR",
      provider_reference: "PP-42",
      affiliate_id: child,
    });
    for (const p of partnerEvents()) {
      const id = p.headers.get("webhook-id");
      const ts = p.headers.get("webhook-timestamp");
      const expected = createHmac("sha256", Buffer.from(secret.replace(/^whsec_/, ""), "base64"))
        .update(`${id}.${ts}.${p.body}`)
        .digest("base64");
      expect(p.headers.get("webhook-signature")?.split(" ")).toContain(`v1,${expected}`);
    }

    // the operator's webhook hears the same events of this affiliate, signed with the webhook's own secret
    const opsEvents = () =>
      operator.received
        .filter((p) => p.url.pathname === "/ops")
        .filter((p) => JSON.parse(p.body).data?.affiliate_id === child);
    await eventually(async () => opsEvents().length >= 2, "payout.paid and statement.ready at the operator");
    expect(
      opsEvents()
        .map((p) => JSON.parse(p.body).type)
        .sort(),
    ).toEqual(["payout.paid", "statement.ready"]);
    expect(
      JSON.parse(opsEvents().find((p) => p.body.includes("payout.paid"))?.body ?? "{}").data,
    ).toMatchObject({
      amount: "60.00",
      provider_reference: "PP-42",
    });
    for (const p of opsEvents()) {
      const mac = (key: string) =>
        createHmac("sha256", Buffer.from(key.replace(/^whsec_/, ""), "base64"))
          .update(`${p.headers.get("webhook-id")}.${p.headers.get("webhook-timestamp")}.${p.body}`)
          .digest("base64");
      const signatures = p.headers.get("webhook-signature")?.split(" ") ?? [];
      expect(signatures).toContain(`v1,${mac(webhook.secret)}`);
      expect(signatures).not.toContain(`v1,${mac(secret)}`); // never the affiliate's key
    }
    // the operator's deliveries are staff data: the affiliate's key does not list them
    const affiliateKey = await env.admin.post<{ key: string }>("/v1/api-keys", {
      name: "child",
      role: "affiliate",
      affiliate_id: child,
    });
    const listed = await fetch(`${env.urls.admin}/v1/deliveries?limit=500`, {
      headers: { authorization: `Bearer ${affiliateKey.key}` },
    });
    const rows = ((await listed.json()) as { data: { url: string }[] }).data;
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.some((r) => r.url.includes("/ops"))).toBe(false);
  }, 120_000);

  test("a refund after an approved FTD: the balance returns to where it started, the affiliate gets a signed reversal postback", async () => {
    const affiliate = startAffiliateEndpoint();
    endpoints.push(affiliate);
    const program = await createProgram(env.admin, { postbackUrl: affiliate.url });
    const { secret } = await env.admin.post<{ secret: string }>("/v1/webhook-secrets", {
      affiliate_id: program.affiliate.id,
    });
    const start = await balance(program.affiliate.id);

    const clickId = await click(program);
    await postback(program, {
      click_id: clickId,
      txid: "ftd-1",
      event: "ftd",
      amount: "100.00",
      status: "approved",
    });
    const approved = await eventually(
      async () => affiliate.received.find(forClick(clickId)),
      "the FTD postback",
    );
    expect(approved.url.searchParams.get("st")).toBe("approved");
    expect(approved.url.searchParams.get("pay")).toBe("25.00");
    expect(signedBy(secret, approved)).toBe(true);
    await eventually(
      async () => (await balance(program.affiliate.id)) === "25.00",
      "the commission in the balance",
    );

    // The advertiser refunds the deposit: same transaction, status reversed.
    await postback(program, {
      click_id: clickId,
      txid: "ftd-1",
      event: "ftd",
      amount: "100.00",
      status: "reversed",
    });
    const reversal = await eventually(
      async () =>
        affiliate.received.find((p) => forClick(clickId)(p) && p.url.searchParams.get("st") === "reversed"),
      "the reversal postback",
    );
    expect(reversal.url.searchParams.get("pay")).toBe("0.00");
    expect(signedBy(secret, reversal)).toBe(true);
    expect(reversal.headers.get("webhook-id")).not.toBe(approved.headers.get("webhook-id"));
    await eventually(
      async () => (await balance(program.affiliate.id)) === start,
      "the balance back where it started",
    );

    const [conversion] = await env.sql`select id from conversions where click_id = ${clickId}`;
    const ledger = await env.sql`
      select type, payout::text, affiliate_payout::text from ledger_entries where conversion_id = ${conversion?.id} order by id`;
    expect([...ledger]).toEqual([
      { type: "commission", payout: "25.000000", affiliate_payout: "25.000000" },
      { type: "reversal", payout: "-25.000000", affiliate_payout: "-25.000000" },
    ]);
    expect(affiliate.received.filter(forClick(clickId))).toHaveLength(2);
  });

  test("an affiliate endpoint down for the first attempts still receives exactly one postback per event", async () => {
    const port = await freePort();
    const program = await createProgram(env.admin, { postbackUrl: `http://127.0.0.1:${port}` });
    const clickId = await click(program);
    await postback(program, { click_id: clickId, txid: "reg-1", event: "registration" });
    await postback(program, { click_id: clickId, txid: "ftd-2", event: "ftd", amount: "50.00" });

    // Nothing listens: wait until both deliveries have failed at least twice.
    await eventually(async () => {
      const rows = await env.sql`
          select d.id, count(a.*)::int as failures from deliveries d join delivery_attempts a on a.delivery_id = d.id
          where d.affiliate_id = ${program.affiliate.id} and a.error is not null group by d.id`;
      return rows.length === 2 && rows.every((r) => r.failures >= 2);
    }, "two failed attempts per delivery");

    // The endpoint comes up on that port.
    const received: ReceivedPostback[] = [];
    const server = Bun.serve({
      port,
      hostname: "127.0.0.1",
      fetch(req) {
        received.push({
          method: req.method,
          url: new URL(req.url),
          headers: req.headers,
          body: "",
          at: Date.now(),
        });
        return new Response("ok");
      },
    });
    endpoints.push({ stop: () => server.stop(true) });

    await eventually(async () => received.length >= 2, "both postbacks");
    await Bun.sleep(1_500); // room for a duplicate to show up
    expect(received.map((r) => r.url.searchParams.get("ev")).sort()).toEqual(["ftd", "registration"]);
    expect(new Set(received.map((r) => r.headers.get("webhook-id"))).size).toBe(2);
    const rows = await env.sql`select status from deliveries where affiliate_id = ${program.affiliate.id}`;
    expect(rows.map((r) => r.status)).toEqual(["delivered", "delivered"]);
  });

  test("an exhausted delivery is dead-lettered and replayed from admin once the endpoint is fixed", async () => {
    let broken = true;
    const affiliate = startAffiliateEndpoint(() =>
      broken ? new Response("down", { status: 503 }) : new Response("ok"),
    );
    endpoints.push(affiliate);
    const program = await createProgram(env.admin, { postbackUrl: affiliate.url });
    const clickId = await click(program);
    await postback(program, { click_id: clickId, txid: "ftd-3", event: "ftd", amount: "10.00" });

    const dead = await eventually(
      async () => {
        const { data } = await env.admin.get<{ data: { id: string; status: string; attempts: number }[] }>(
          `/v1/deliveries?affiliate_id=${program.affiliate.id}&status=dead`,
        );
        return data[0];
      },
      "the delivery to be dead-lettered",
      30_000,
    );
    expect(dead.attempts).toBe(SCHEDULE.split(",").length);

    broken = false;
    await env.admin.post(`/v1/deliveries/${dead.id}/replay`, {});
    const detail = await eventually(async () => {
      const d = await env.admin.get<{ status: string; attempts: { outcome: string }[] }>(
        `/v1/deliveries/${dead.id}`,
      );
      return d.status === "delivered" ? d : undefined;
    }, "the replayed delivery to be delivered");
    expect(detail.attempts.map((a) => a.outcome)).toEqual([
      ...Array(SCHEDULE.split(",").length - 1).fill("retry"),
      "dead_lettered",
      "delivered",
    ]);
    // every attempt reached the endpoint under the same webhook-id
    expect(new Set(affiliate.received.map((p) => p.headers.get("webhook-id")))).toEqual(
      new Set([`dlv_${dead.id}`]),
    );
  });

  test("a conversion in a currency without an FX rate is blocked visibly, then books itself once the rate is loaded", async () => {
    const affiliate = startAffiliateEndpoint();
    endpoints.push(affiliate);
    const program = await createProgram(env.admin, { postbackUrl: affiliate.url });
    await env.admin.post("/v1/payout-rules", {
      offer_id: program.offer.id,
      event: "registration",
      model: "revshare",
      payout_percent: "10",
      currency: "EUR",
    });
    const clickId = await click(program);
    // No ISK rate exists: the approved conversion cannot be priced.
    await postback(program, {
      click_id: clickId,
      txid: "isk-1",
      event: "registration",
      amount: "1500",
      currency: "ISK",
      status: "approved",
    });
    type Trace = {
      conversions: { status: string; commission_blocked: { reason: string; message: string } | null }[];
      timeline: { kind: string }[];
    };
    const blocked = await eventually(async () => {
      const t = await env.admin.get<Trace>(`/v1/trace?click_id=${clickId}`);
      return t.conversions[0]?.commission_blocked ? t : undefined;
    }, "the trace to show the conversion blocked");
    expect(blocked.conversions[0]).toMatchObject({
      status: "approved",
      commission_blocked: { reason: "fx_rate_missing", message: expect.stringContaining("ISK") },
    });
    expect(blocked.timeline.some((e) => e.kind === "blocked")).toBe(true);
    await eventually(async () => {
      const text = await (await fetch(`${env.urls.commission}/metrics`)).text();
      const m = /^roundtrip_commission_blocked\{[^}]*reason="fx_rate_missing"[^}]*\} (\d+)/m.exec(text);
      return Number(m?.[1] ?? 0) >= 1;
    }, "roundtrip_commission_blocked to count it");
    expect(affiliate.received.filter(forClick(clickId))).toHaveLength(0);

    // The operator loads the rate; nobody replays anything.
    await env.admin.post("/v1/fx-rates", {
      base: "EUR",
      quote: "ISK",
      rate: "150",
      effective_at: "2020-01-01T00:00:00Z",
    });
    const booked = await eventually(
      async () => affiliate.received.find(forClick(clickId)),
      "the conversion to book itself and the affiliate to hear of it",
    );
    // 10 % of 1500 ISK = 150 ISK = 1.00 EUR
    expect(booked.url.searchParams.get("pay")).toBe("1.00");
    const after = await env.admin.get<Trace>(`/v1/trace?click_id=${clickId}`);
    expect(after.conversions[0]?.commission_blocked).toBeNull();
  });

  test("a conversion over its cap is held back visibly, then books itself once the cap is raised", async () => {
    const affiliate = startAffiliateEndpoint();
    endpoints.push(affiliate);
    const program = await createProgram(env.admin, { postbackUrl: affiliate.url });
    await env.admin.put(`/v1/offers/${program.offer.id}/events/ftd`, { cap_daily: 1 });
    const first = await click(program);
    await postback(program, { click_id: first, txid: "cap-1", event: "ftd" });
    await eventually(async () => affiliate.received.find(forClick(first)), "the first FTD to be delivered");

    // The second FTD of the day is over the cap: a conversion, but nothing booked or sent.
    const second = await click(program);
    await postback(program, { click_id: second, txid: "cap-2", event: "ftd" });
    type Trace = {
      conversions: { status: string; cap_blocked: { reason: string } | null; ledger: unknown[] }[];
      receipts: { decision: string }[];
    };
    const blocked = await eventually(async () => {
      const t = await env.admin.get<Trace>(`/v1/trace?click_id=${second}`);
      return t.conversions[0]?.cap_blocked ? t : undefined;
    }, "the trace to show the conversion held back over its cap");
    expect(blocked.conversions[0]).toMatchObject({ cap_blocked: { reason: "over_cap" }, ledger: [] });
    expect(blocked.receipts[0]?.decision).toContain("over its cap");
    await eventually(async () => {
      const text = await (await fetch(`${env.urls.attribution}/metrics`)).text();
      const m = /^roundtrip_conversions_blocked\{[^}]*reason="over_cap"[^}]*\} (\d+)/m.exec(text);
      return Number(m?.[1] ?? 0) >= 1;
    }, "roundtrip_conversions_blocked to count it");
    expect(affiliate.received.filter(forClick(second))).toHaveLength(0);

    // The operator raises the cap; nobody replays anything.
    await env.admin.put(`/v1/offers/${program.offer.id}/events/ftd`, { cap_daily: 2 });
    const delivered = await eventually(
      async () => affiliate.received.find(forClick(second)),
      "the held-back conversion to book itself and the affiliate to hear of it",
    );
    expect(delivered.url.searchParams.get("pay")).toBe("25.00");
    const after = await env.admin.get<Trace>(`/v1/trace?click_id=${second}`);
    expect(after.conversions[0]?.cap_blocked).toBeNull();
    expect(after.conversions[0]?.ledger).toHaveLength(1);
    expect(await balance(program.affiliate.id)).toBe("50.00");
  });
});
