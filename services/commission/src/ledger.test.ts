import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { CommissionBooked, ConversionChanged, ConversionStatus } from "@roundtrip/contracts";
import { createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import { blockedCounts, retryAllBlocked, retryBlocked } from "./blocks.ts";
import { settle } from "./ledger.ts";
import { planPayouts } from "@roundtrip/ledger";

let db: TestDatabase;
let sql: Sql;

beforeAll(async () => {
  db = await createTestDatabase("commission");
  sql = db.sql;
});
afterAll(async () => {
  await db?.drop();
});

type Program = { brand: string; advertiser: string; offer: string; affiliates: string[] };

/** A brand (reporting currency, timezone), an advertiser, an offer with ftd and deposit, affiliates. */
async function program(
  options: { currency?: string; timezone?: string; affiliateCurrencies?: string[] } = {},
): Promise<Program> {
  const [brand] = await sql`
    insert into brands (slug, name, currency, timezone)
    values (${`b${crypto.randomUUID().slice(0, 8)}`}, 'Brand', ${options.currency ?? "EUR"}, ${options.timezone ?? "UTC"})
    returning id`;
  const [advertiser] =
    await sql`insert into advertisers (brand_id, name) values (${brand?.id}, 'Casino') returning id`;
  const [offer] = await sql`
    insert into offers (brand_id, advertiser_id, name, destination_url, currency)
    values (${brand?.id}, ${advertiser?.id}, 'Welcome', 'https://casino.example/', 'EUR') returning id`;
  await sql`insert into offer_events (offer_id, code) values (${offer?.id}, 'ftd'), (${offer?.id}, 'deposit')`;
  const affiliates: string[] = [];
  for (const currency of options.affiliateCurrencies ?? ["EUR"]) {
    const [a] =
      await sql`insert into affiliates (name, payout_currency) values ('Affiliate', ${currency}) returning id`;
    affiliates.push(a?.id);
  }
  return { brand: brand?.id, advertiser: advertiser?.id, offer: offer?.id, affiliates };
}

async function rule(p: Program, terms: Record<string, unknown>): Promise<string> {
  const row: Record<string, unknown> = {
    offer_id: p.offer,
    event: "ftd",
    model: "cpa",
    currency: "EUR",
    ...terms,
  };
  if (row.tiers) row.tiers = sql.json(row.tiers as never);
  const [created] = await sql`insert into payout_rules ${sql(row as Record<string, never>)} returning id`;
  return created?.id;
}

let txids = 0;
/** A stored conversion and its first change. */
async function conversion(
  p: Program,
  over: {
    affiliate?: string;
    status?: ConversionStatus;
    amount?: string | null;
    currency?: string;
    at?: string;
    payout?: string;
    event?: string;
  } = {},
): Promise<ConversionChanged> {
  const status = over.status ?? "approved";
  const at = over.at ?? "2026-03-10T12:00:00Z";
  const affiliate = over.affiliate ?? (p.affiliates[0] as string);
  const event = over.event ?? "ftd";
  const txid = `tx-${++txids}`;
  const [row] = await sql`
    insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event,
                             status, amount, currency, occurred_at, receipt_id)
    values (${p.advertiser}, ${p.brand}, ${p.offer}, ${affiliate}, 1, ${`click-${txid}`}, ${at}, ${txid}, ${event},
            ${status}, ${over.amount ?? null}, ${over.currency ?? "EUR"}, ${at}, 1)
    returning id`;
  return {
    conversion_id: row?.id,
    seq: 1,
    status,
    previous_status: null,
    advertiser_id: p.advertiser,
    brand_id: p.brand,
    offer_id: p.offer,
    affiliate_id: affiliate,
    click_id: `click-${txid}`,
    txid,
    event,
    amount: over.amount ?? null,
    payout_override: over.payout ?? null,
    currency: over.currency ?? "EUR",
    occurred_at: new Date(at).toISOString(),
  };
}

const change = (c: ConversionChanged, seq: number, status: ConversionStatus): ConversionChanged => ({
  ...c,
  seq,
  previous_status: c.status,
  status,
});

const run = (c: ConversionChanged) => sql.begin((tx) => settle(tx, c));

async function entries(conversionId: string) {
  return [
    ...(await sql`
      select type, payout::text, revenue::text, currency, affiliate_payout::text, affiliate_currency,
             reporting_payout::text, reporting_revenue::text, reporting_currency
      from ledger_entries where conversion_id = ${conversionId} order by id`),
  ];
}

async function told(conversionId: string, seq: number): Promise<CommissionBooked | undefined> {
  const [row] = await sql`select payload from bus_outbox where msg_id = ${`comm:${conversionId}:${seq}`}`;
  return row?.payload as CommissionBooked | undefined;
}

/** Balance derived from entries: the affiliate's figures, per currency. */
async function balance(affiliate: string): Promise<Record<string, string>> {
  const rows = await sql`
    select affiliate_currency, sum(affiliate_payout)::text as total from ledger_entries
    where affiliate_id = ${affiliate} group by affiliate_currency`;
  return Object.fromEntries(rows.map((r) => [r.affiliate_currency, r.total]));
}

async function fx(base: string, quote: string, rate: string, at: string) {
  await sql`insert into fx_rates (base, quote, rate, effective_at) values (${base}, ${quote}, ${rate}, ${at})`;
}

describe("test traffic", () => {
  test("a test affiliate's conversion is recorded but books no money and tells no one", async () => {
    const p = await program();
    await rule(p, { payout: "25", revenue: "40" });
    await sql`update affiliates set is_test = true where id = ${p.affiliates[0] as string}`;
    const c = await conversion(p, { amount: "100" });
    expect(await run(c)).toEqual({ outcome: "test", entry: null });
    expect(await entries(c.conversion_id)).toEqual([]);
    expect(await told(c.conversion_id, c.seq)).toBeUndefined();
    expect(await balance(p.affiliates[0] as string)).toEqual({});
  });
});

describe("payout rules", () => {
  test("fixed CPA: an approved FTD books payout and revenue, and delivery is told", async () => {
    const p = await program();
    const ruleId = await rule(p, { payout: "25", revenue: "40" });
    const c = await conversion(p, { amount: "100" });
    expect(await run(c)).toMatchObject({
      outcome: "booked",
      entry: { type: "commission", payout: "25.00", revenue: "40.00" },
    });
    expect(await entries(c.conversion_id)).toEqual([
      {
        type: "commission",
        payout: "25.000000",
        revenue: "40.000000",
        currency: "EUR",
        affiliate_payout: "25.000000",
        affiliate_currency: "EUR",
        reporting_payout: "25.000000",
        reporting_revenue: "40.000000",
        reporting_currency: "EUR",
      },
    ]);
    const [e] =
      await sql`select rule_id, calculation from ledger_entries where conversion_id = ${c.conversion_id}`;
    expect(e?.rule_id).toBe(ruleId);
    expect(e?.calculation).toMatchObject({
      rule: { id: ruleId, model: "cpa" },
      outcome: "booked",
      deal: { payout: "25.00" },
    });
    expect(await told(c.conversion_id, 1)).toMatchObject({
      status: "approved",
      payout: "25.00",
      currency: "EUR",
      entry_type: "commission",
    });
  });

  test("RevShare: a percentage of the deposit, rounded half away from zero", async () => {
    const p = await program();
    await rule(p, { model: "revshare", payout_percent: "30", revenue_percent: "45" });
    const c = await conversion(p, { amount: "123.45" });
    expect((await run(c)).entry).toMatchObject({ payout: "37.04", revenue: "55.55" }); // 37.035, 55.5525
  });

  test("hybrid: CPA plus RevShare", async () => {
    const p = await program();
    await rule(p, { model: "hybrid", payout: "10", payout_percent: "25", revenue: "30" });
    const c = await conversion(p, { amount: "200" });
    expect((await run(c)).entry).toMatchObject({ payout: "60.00", revenue: "30.00" });
  });

  test("the affiliate's own rule beats the offer's; another affiliate gets the offer's", async () => {
    const p = await program({ affiliateCurrencies: ["EUR", "EUR"] });
    const [vip, other] = p.affiliates as [string, string];
    await rule(p, { payout: "25" });
    await rule(p, { payout: "40", affiliate_id: vip });
    await rule(p, { payout: "30" }); // newer offer-wide rule: still less specific than vip's
    expect((await run(await conversion(p, { affiliate: vip }))).entry?.payout).toBe("40.00");
    expect((await run(await conversion(p, { affiliate: other }))).entry?.payout).toBe("30.00");
  });

  test("an archived rule no longer applies; no rule books a zero commission", async () => {
    const p = await program();
    const id = await rule(p, { payout: "25" });
    await sql`update payout_rules set status = 'archived' where id = ${id}`;
    const c = await conversion(p);
    expect(await run(c)).toMatchObject({ outcome: "no_rule", entry: { payout: "0.00" } });
  });

  test("revenue and payout are on every conversion, other events included", async () => {
    const p = await program();
    await rule(p, { event: "deposit", model: "revshare", payout_percent: "10", revenue_percent: "20" });
    const c = await conversion(p, { event: "deposit", amount: "50" });
    expect((await run(c)).entry).toMatchObject({ payout: "5.00", revenue: "10.00" });
  });
});

describe("tiers", () => {
  test("FTDs 1–2 pay 100, from the 3rd on 150; earlier ones keep 100; a reversed one stops counting", async () => {
    const p = await program();
    await rule(p, { payout: "100", tiers: [{ from: 3, payout: "150", payout_percent: "0" }] });
    const paid: string[] = [];
    const cs: ConversionChanged[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await conversion(p);
      cs.push(c);
      paid.push((await run(c)).entry?.payout as string);
    }
    expect(paid).toEqual(["100.00", "100.00", "150.00", "150.00"]);
    // Nothing booked before was touched: tiers apply from the crossing on.
    const booked = await sql`
      select e.payout::text from ledger_entries e join commission_bookings b using (conversion_id)
      where b.offer_id = ${p.offer} order by e.id`;
    expect(booked.map((r) => r.payout)).toEqual(["100.000000", "100.000000", "150.000000", "150.000000"]);
    const [tier] =
      await sql`select tier, qualifying_count from commission_bookings where conversion_id = ${(cs[2] as ConversionChanged).conversion_id}`;
    expect(tier).toEqual({ tier: 1, qualifying_count: 3 });

    // Two reversals bring the qualifying count back to 2: the next FTD is the 3rd again.
    await run(change(cs[0] as ConversionChanged, 2, "reversed"));
    await run(change(cs[1] as ConversionChanged, 2, "reversed"));
    expect((await run(await conversion(p))).entry?.payout).toBe("150.00");
    await run(change(cs[2] as ConversionChanged, 2, "reversed"));
    await run(change(cs[3] as ConversionChanged, 2, "reversed"));
    expect((await run(await conversion(p))).entry?.payout).toBe("100.00"); // the 2nd qualifying one
  });

  test("the tier period is the brand's calendar month: a new month starts from the first tier", async () => {
    const p = await program({ timezone: "Europe/Malta" });
    await rule(p, { payout: "100", tiers: [{ from: 2, payout: "150", payout_percent: "0" }] });
    expect((await run(await conversion(p, { at: "2026-03-31T10:00:00Z" }))).entry?.payout).toBe("100.00");
    // 22:30 UTC on 31 March is already 1 April in Malta (UTC+2): a new month.
    expect((await run(await conversion(p, { at: "2026-03-31T22:30:00Z" }))).entry?.payout).toBe("100.00");
    expect((await run(await conversion(p, { at: "2026-04-02T10:00:00Z" }))).entry?.payout).toBe("150.00");
  });
});

describe("caps", () => {
  test("a daily cap per affiliate: over it, conversions are booked at zero; the next day counts afresh", async () => {
    const p = await program({ affiliateCurrencies: ["EUR", "EUR"] });
    const [a, b] = p.affiliates as [string, string];
    await rule(p, { payout: "25", revenue: "40", cap_daily: 2, cap_action: "zero" });
    const day = "2026-03-10T09:00:00Z";
    const outcomes = [];
    for (let i = 0; i < 3; i++) outcomes.push(await run(await conversion(p, { affiliate: a, at: day })));
    expect(outcomes.map((o) => [o.outcome, o.entry?.payout])).toEqual([
      ["booked", "25.00"],
      ["booked", "25.00"],
      ["capped_zero", "0.00"],
    ]);
    expect((await run(await conversion(p, { affiliate: b, at: day }))).outcome).toBe("booked");
    expect((await run(await conversion(p, { affiliate: a, at: "2026-03-11T09:00:00Z" }))).outcome).toBe(
      "booked",
    );
  });

  test("an offer-wide monthly cap that rejects: the affiliate is told rejected, nothing is booked", async () => {
    const p = await program({ affiliateCurrencies: ["EUR", "EUR"] });
    const [a, b] = p.affiliates as [string, string];
    await rule(p, { payout: "25", cap_monthly: 2, cap_scope: "offer", cap_action: "reject" });
    await run(await conversion(p, { affiliate: a, at: "2026-03-01T10:00:00Z" }));
    await run(await conversion(p, { affiliate: b, at: "2026-03-20T10:00:00Z" }));
    const over = await conversion(p, { affiliate: a, at: "2026-03-28T10:00:00Z" });
    expect(await run(over)).toEqual({ outcome: "capped_rejected", entry: null });
    expect(await entries(over.conversion_id)).toEqual([]);
    expect(await told(over.conversion_id, 1)).toMatchObject({
      status: "rejected",
      reason: "cap",
      payout: "0.00",
      entry_id: null,
    });
    // A later reversal of the rejected conversion moves nothing.
    expect((await run(change(over, 2, "reversed"))).outcome).toBe("none");
    expect((await run(await conversion(p, { affiliate: a, at: "2026-04-01T10:00:00Z" }))).outcome).toBe(
      "booked",
    );
  });
});

describe("the advertiser's payout", () => {
  test("accepted only where the rule allows it and within its bounds", async () => {
    const p = await program();
    await rule(p, {
      payout: "25",
      advertiser_payout: "accept",
      advertiser_payout_min: "5",
      advertiser_payout_max: "50",
    });
    expect((await run(await conversion(p, { payout: "33.333" }))).entry?.payout).toBe("33.33");
    expect((await run(await conversion(p, { payout: "80" }))).entry?.payout).toBe("25.00");
    const p2 = await program();
    await rule(p2, { payout: "25" });
    const c = await conversion(p2, { payout: "33" });
    expect((await run(c)).entry?.payout).toBe("25.00");
    const [e] = await sql`select calculation from ledger_entries where conversion_id = ${c.conversion_id}`;
    expect(e?.calculation.override).toMatchObject({ sent: "33", outcome: "not_allowed" });
  });
});

describe("currencies", () => {
  test("normalised to the affiliate's and the brand's currency at the rate in force at the event time", async () => {
    const p = await program({ currency: "GBP", affiliateCurrencies: ["USD"] });
    await rule(p, { payout: "25", revenue: "40" }); // EUR deal
    await fx("EUR", "USD", "1.10", "2026-01-01T00:00:00Z");
    await fx("EUR", "USD", "1.20", "2026-03-15T00:00:00Z");
    await fx("GBP", "EUR", "1.25", "2026-01-01T00:00:00Z"); // inverse needed: EUR→GBP = 0.8

    const before = await conversion(p, { at: "2026-03-14T23:59:59Z" });
    await run(before);
    expect(await entries(before.conversion_id)).toEqual([
      expect.objectContaining({
        payout: "25.000000",
        currency: "EUR",
        affiliate_payout: "27.500000",
        affiliate_currency: "USD",
        reporting_payout: "20.000000",
        reporting_revenue: "32.000000",
        reporting_currency: "GBP",
      }),
    ]);
    const after = await conversion(p, { at: "2026-03-15T00:00:00Z" });
    await run(after);
    expect((await entries(after.conversion_id))[0]).toMatchObject({ affiliate_payout: "30.000000" });
    // Delivery tells the affiliate in its own currency.
    expect(await told(after.conversion_id, 1)).toMatchObject({ payout: "30.00", currency: "USD" });
  });

  test("RevShare on an amount in another currency; a cross rate through a common base", async () => {
    const p = await program({ affiliateCurrencies: ["SEK"] });
    await rule(p, { model: "revshare", payout_percent: "10", currency: "EUR" });
    await fx("EUR", "CAD", "1.08", "2026-01-01T00:00:00Z");
    await fx("EUR", "SEK", "0.85", "2026-01-01T00:00:00Z");
    const c = await conversion(p, { amount: "100", currency: "CAD" });
    // 10% of 100 CAD = 10 CAD = 9.259259… EUR → 9.26; in SEK: 9.26 × 0.85 = 7.871 → 7.87
    expect((await run(c)).entry).toMatchObject({ payout: "9.26", currency: "EUR" });
    expect((await entries(c.conversion_id))[0]).toMatchObject({
      affiliate_payout: "7.870000",
      affiliate_currency: "SEK",
    });
  });

  test("without a rate in force the change is blocked, visibly, and books itself once the rate is loaded", async () => {
    const p = await program({ affiliateCurrencies: ["CHF"] });
    await rule(p, { payout: "25" });
    await fx("EUR", "CHF", "0.95", "2026-06-01T00:00:00Z"); // only from after the event
    const c = await conversion(p);
    // Handled (the message is not retried in the dark), nothing booked, the reason recorded.
    expect(await run(c)).toMatchObject({ outcome: "blocked", blocked: { reason: "fx_rate_missing" } });
    expect(await entries(c.conversion_id)).toEqual([]);
    expect(await told(c.conversion_id, c.seq)).toBeUndefined();
    const [block] =
      await sql`select change_seq, reason, detail from commission_blocks where conversion_id = ${c.conversion_id}`;
    expect(block).toEqual({
      change_seq: 1,
      reason: "fx_rate_missing",
      detail: { from: "EUR", to: "CHF", at: "2026-03-10T12:00:00.000Z" },
    });
    expect((await blockedCounts(sql)).fx_rate_missing).toBeGreaterThanOrEqual(1);
    // Still missing: the retry keeps it blocked.
    expect(await retryBlocked(sql, settle)).toMatchObject({ blocked: expect.any(Number) });
    expect(await entries(c.conversion_id)).toEqual([]);
    // Once the rate is loaded, the service's own retry books it — no replay.
    await fx("EUR", "CHF", "0.94", "2026-01-01T00:00:00Z");
    const r = await retryBlocked(sql, settle);
    expect(r.settled).toBeGreaterThanOrEqual(1);
    expect((await entries(c.conversion_id))[0]).toMatchObject({ affiliate_payout: "23.500000" });
    expect(await told(c.conversion_id, 1)).toMatchObject({ payout: "23.50", currency: "CHF" });
    expect(await sql`select 1 from commission_blocks where conversion_id = ${c.conversion_id}`).toHaveLength(
      0,
    );
  });

  test("a backlog of blocked changes books in one retry pass once the rate arrives, batch after batch", async () => {
    const p = await program({ affiliateCurrencies: ["NOK"] });
    await rule(p, { payout: "25" });
    const backlog = [];
    for (let i = 0; i < 5; i++) backlog.push(await conversion(p));
    for (const c of backlog) expect((await run(c)).outcome).toBe("blocked");
    await fx("EUR", "NOK", "11.5", "2026-01-01T00:00:00Z");
    // Batches of 2: one pass keeps going while a batch settles something.
    const r = await retryAllBlocked(sql, settle, { limit: 2 });
    expect(r.settled).toBeGreaterThanOrEqual(backlog.length);
    const ids = backlog.map((c) => c.conversion_id);
    expect(await sql`select 1 from commission_blocks where conversion_id in ${sql(ids)}`).toHaveLength(0);
    for (const c of backlog)
      expect((await entries(c.conversion_id))[0]).toMatchObject({ affiliate_payout: "287.500000" });
  });

  test("a blocked change overtaken by a reversal is settled as stale: nothing booked, no block left", async () => {
    const p = await program();
    await rule(p, { model: "revshare", payout_percent: "10" });
    const c = await conversion(p, { amount: "100", currency: "XXX" });
    expect((await run(c)).outcome).toBe("blocked");
    expect((await run(change(c, 2, "reversed"))).outcome).toBe("none");
    expect(await sql`select 1 from commission_blocks where conversion_id = ${c.conversion_id}`).toHaveLength(
      0,
    );
    await retryBlocked(sql, settle);
    expect(await entries(c.conversion_id)).toEqual([]);
  });
});

describe("repricing (issue 10)", () => {
  const figures = (
    c: ConversionChanged,
    seq: number,
    over: Partial<ConversionChanged>,
  ): ConversionChanged => ({
    ...c,
    seq,
    previous_status: c.status,
    ...over,
  });

  test("a pixel's pending conversion confirmed with the S2S amount is repriced by an adjustment", async () => {
    const p = await program();
    await rule(p, { model: "revshare", payout_percent: "30", revenue_percent: "50" });
    // The pixel set no amount: RevShare books zero, held.
    const c = await conversion(p, { status: "pending", amount: null });
    expect((await run(c)).entry).toMatchObject({ payout: "0.00" });
    // The S2S confirmation approves it with the advertiser's amount.
    expect(await run(figures(c, 3, { status: "approved", amount: "200.000000" }))).toMatchObject({
      outcome: "repriced",
      entry: { type: "adjustment", payout: "60.000000", revenue: "100.000000" },
    });
    expect((await entries(c.conversion_id)).map((e) => [e.type, e.affiliate_payout])).toEqual([
      ["commission", "0.000000"],
      ["adjustment", "60.000000"],
    ]);
    // The approval also released the hold.
    expect(await sql`select 1 from ledger_releases where conversion_id = ${c.conversion_id}`).toHaveLength(1);
    expect(await told(c.conversion_id, 3)).toMatchObject({ payout: "60.00", entry_type: "adjustment" });
  });

  test("an amount-only change books the difference; the same figures again book nothing; a reversal takes back all", async () => {
    const p = await program();
    await rule(p, { model: "hybrid", payout: "5", payout_percent: "10" });
    const c = await conversion(p, { amount: "100" });
    await run(c);
    expect((await run(figures(c, 2, { amount: "80" }))).entry).toMatchObject({ payout: "-2.000000" });
    expect((await run(figures(c, 3, { amount: "80.00" }))).outcome).toBe("none");
    expect(await balance(p.affiliates[0] as string)).toEqual({ EUR: "13.000000" });
    expect((await run(figures(c, 4, { status: "reversed" }))).outcome).toBe("reversed");
    expect(await balance(p.affiliates[0] as string)).toEqual({ EUR: "0.000000" });
  });

  test("changes of figures in any order end in the same balance", async () => {
    const p = await program({ affiliateCurrencies: ["EUR", "EUR", "EUR"] });
    await rule(p, { model: "revshare", payout_percent: "25" });
    const orders = [
      [1, 2, 3],
      [3, 1, 2],
      [2, 3, 1],
    ];
    const balances: Record<string, string>[] = [];
    for (const [i, order] of orders.entries()) {
      const affiliate = p.affiliates[i] as string;
      const c = await conversion(p, { affiliate, status: "pending", amount: "40" });
      const changes = [
        c,
        figures(c, 2, { status: "approved", amount: "40" }),
        figures(c, 3, { status: "approved", amount: "120" }),
      ];
      for (const n of order) await run(changes[n - 1] as ConversionChanged);
      balances.push(await balance(affiliate));
    }
    expect(balances).toEqual([{ EUR: "30.000000" }, { EUR: "30.000000" }, { EUR: "30.000000" }]);
  });
});

describe("the ledger: reversals, holds, balances", () => {
  test("a reversal after approval brings the balance back exactly where it started", async () => {
    const p = await program({ currency: "NZD", affiliateCurrencies: ["AUD"] });
    await rule(p, { model: "revshare", payout_percent: "33.3333", revenue_percent: "50" });
    await fx("EUR", "AUD", "1.0987", "2026-01-01T00:00:00Z");
    await fx("EUR", "NZD", "0.8571", "2026-01-01T00:00:00Z");
    const start = await balance(p.affiliates[0] as string);
    const c = await conversion(p, { amount: "77.77" });
    await run(c);
    // A rate change after the event does not change what the reversal takes back.
    await fx("EUR", "AUD", "1.50", "2026-03-11T00:00:00Z");
    expect(await run(change(c, 2, "reversed"))).toMatchObject({
      outcome: "reversed",
      entry: { type: "reversal" },
    });
    const rows = await entries(c.conversion_id);
    expect(rows.map((r) => r.type)).toEqual(["commission", "reversal"]);
    expect(rows[1]).toMatchObject({
      payout: `-${rows[0]?.payout}`,
      revenue: `-${rows[0]?.revenue}`,
      affiliate_payout: `-${rows[0]?.affiliate_payout}`,
      reporting_payout: `-${rows[0]?.reporting_payout}`,
      reporting_revenue: `-${rows[0]?.reporting_revenue}`,
    });
    expect(await balance(p.affiliates[0] as string)).toEqual({ ...start, AUD: "0.000000" });
    expect(await told(c.conversion_id, 2)).toMatchObject({
      status: "reversed",
      payout: "0.00",
      entry_type: "reversal",
    });
  });

  test("pending is held until approval; approval releases after the hold days; rejection nets to zero", async () => {
    const p = await program();
    await rule(p, { payout: "25", hold_days: 30 });
    const c = await conversion(p, { status: "pending" });
    expect((await run(c)).outcome).toBe("booked");
    const [held] =
      await sql`select available_at from ledger_entries where conversion_id = ${c.conversion_id}`;
    expect(held?.available_at).toBeNull();
    expect((await run(change(c, 2, "approved"))).outcome).toBe("released");
    const [release] = await sql`
      select (available_at - now()) > interval '29 days' as later from ledger_releases where conversion_id = ${c.conversion_id}`;
    expect(release?.later).toBe(true);
    expect(await entries(c.conversion_id)).toHaveLength(1); // approval moved no money

    const r = await conversion(p, { status: "pending" });
    await run(r);
    expect((await run(change(r, 2, "rejected"))).outcome).toBe("reversed");
    const [both] = await sql`
      select count(*)::int as n, sum(affiliate_payout)::text as net, bool_and(available_at is null) as held
      from ledger_entries where conversion_id = ${r.conversion_id}`;
    expect(both).toEqual({ n: 2, net: "0.000000", held: true });
  });

  test("changes out of order: an older change after a newer one moves nothing; a repeat is a no-op", async () => {
    const p = await program();
    await rule(p, { payout: "25" });
    const c = await conversion(p, { status: "pending" });
    expect((await run(change(c, 2, "rejected"))).outcome).toBe("none");
    expect(await run(c)).toEqual({ outcome: "stale", entry: null });
    expect(await entries(c.conversion_id)).toEqual([]);
    expect(await told(c.conversion_id, 1)).toBeUndefined();

    const d = await conversion(p);
    await run(d);
    expect(await run(d)).toEqual({ outcome: "duplicate", entry: null });
    expect(await entries(d.conversion_id)).toHaveLength(1);
  });

  test("entries are immutable: no update, no delete", async () => {
    const p = await program();
    await rule(p, { payout: "25" });
    const c = await conversion(p);
    await run(c);
    expect(
      sql`update ledger_entries set payout = 1000 where conversion_id = ${c.conversion_id}`,
    ).rejects.toThrow(/immutable/);
    expect(sql`delete from ledger_entries where conversion_id = ${c.conversion_id}`).rejects.toThrow(
      /immutable/,
    );
  });

  test("concurrent changes of many conversions: tiers and caps count each booking once", async () => {
    const p = await program();
    await rule(p, { payout: "100", tiers: [{ from: 6, payout: "150", payout_percent: "0" }], cap_daily: 8 });
    const cs = await Promise.all(Array.from({ length: 10 }, () => conversion(p)));
    const results = await Promise.all(cs.map(run));
    const payouts = results.map((r) => r.entry?.payout).sort();
    expect(payouts).toEqual([
      "0.00",
      "0.00",
      "100.00",
      "100.00",
      "100.00",
      "100.00",
      "100.00",
      "150.00",
      "150.00",
      "150.00",
    ]);
  });
});

describe("sub-affiliates (issue 14)", () => {
  /** child → parent (10 % of its children's) → grandparent (5 % of its grandchildren's). */
  async function tree(p: Program) {
    const [child, parent, grandparent] = p.affiliates as [string, string, string];
    await sql`
      insert into affiliate_payout_settings (affiliate_id, parent_affiliate_id, sub_share_percent, sub_tier3_percent)
      values (${grandparent}, null, 0, 5), (${parent}, ${grandparent}, 10, 0), (${child}, ${parent}, 0, 0)`;
    return { child, parent, grandparent };
  }
  const shares = async (conversionId: string) =>
    (
      await sql`
        select id, type, tier, affiliate_id, affiliate_payout::text, affiliate_currency, source_entry_id, reverses_entry_id,
               available_at
        from ledger_entries where conversion_id = ${conversionId} and tier > 1 order by id`
    ).map((r) => ({ ...r }));

  test("parents earn their share of the child's commission, linked to it, and lose it with the reversal", async () => {
    const p = await program({ affiliateCurrencies: ["EUR", "USD", "EUR"] });
    const { child, parent, grandparent } = await tree(p);
    await rule(p, { model: "revshare", payout_percent: "30" });
    const c = await conversion(p, { affiliate: child, amount: "123.45" }); // 37.035 → 37.04
    expect((await run(c)).outcome).toBe("booked");
    const [commission] =
      await sql`select id from ledger_entries where conversion_id = ${c.conversion_id} and tier = 1`;
    const booked = await shares(c.conversion_id);
    expect(
      booked.map((s) => [
        s.type,
        s.tier,
        s.affiliate_id,
        s.affiliate_payout,
        s.affiliate_currency,
        s.source_entry_id,
      ]),
    ).toEqual([
      ["sub_commission", 2, parent, "3.700000", "EUR", commission?.id], // 10 % of 37.04 = 3.704
      ["sub_commission", 3, grandparent, "1.850000", "EUR", commission?.id], // 5 % of 37.04 = 1.852
    ]);
    // the child's own figures (and what delivery is told) are its own entries only
    expect((await told(c.conversion_id, 1))?.payout).toBe("37.04");
    // a replay books nothing twice
    expect((await run(c)).outcome).toBe("duplicate");
    expect(await shares(c.conversion_id)).toHaveLength(2);

    const reversed = change(c, 2, "reversed");
    expect((await run(reversed)).outcome).toBe("reversed");
    const [reversal] =
      await sql`select id from ledger_entries where conversion_id = ${c.conversion_id} and type = 'reversal'`;
    const after = await shares(c.conversion_id);
    expect(
      after.slice(2).map((s) => [s.type, s.tier, s.affiliate_id, s.affiliate_payout, s.source_entry_id]),
    ).toEqual([
      ["sub_reversal", 2, parent, "-3.700000", reversal?.id],
      ["sub_reversal", 3, grandparent, "-1.850000", reversal?.id],
    ]);
    expect(after.slice(2).map((s) => s.reverses_entry_id)).toEqual(after.slice(0, 2).map((s) => s.id));
    for (const a of [child, parent, grandparent]) {
      const b = await balance(a);
      for (const total of Object.values(b)) expect(Number(total)).toBe(0);
    }
    expect((await told(c.conversion_id, 2))?.payout).toBe("0.00");
  });

  test("a child paid in another currency: the parent's share is booked in the child's currency and kept apart per currency", async () => {
    // child paid in USD, parent in EUR; the deal is in EUR (40), so the child books 50.00 USD at 1.25
    const p = await program({ affiliateCurrencies: ["USD", "EUR", "EUR"] });
    const [child, parent] = p.affiliates as [string, string];
    await sql`
      insert into affiliate_payout_settings (affiliate_id, parent_affiliate_id, sub_share_percent)
      values (${parent}, null, 10), (${child}, ${parent}, 0)`;
    await rule(p, { payout: "40" });
    await fx("EUR", "USD", "1.25", "2026-05-31T00:00:00Z");
    const c = await conversion(p, { affiliate: child, at: "2026-06-01T12:00:00Z" });
    await run(c);
    const own = await conversion(p, { affiliate: parent, at: "2026-06-01T12:00:00Z" });
    await run(own);
    expect(
      (await shares(c.conversion_id)).map((s) => [s.affiliate_id, s.affiliate_payout, s.affiliate_currency]),
    ).toEqual([
      [parent, "5.000000", "USD"], // 10 % of the child's 50.00 USD, in USD: no second conversion, no second rounding
    ]);
    expect(await balance(parent)).toEqual({ EUR: "40.000000", USD: "5.000000" });
    // a payout run pays the parent one line per currency
    const plan = await sql.begin(
      (tx) => planPayouts(tx, new Date("2030-01-01T00:00:00Z"), { affiliateId: parent }), // payable by then
    );
    expect(plan.lines.map((l) => [l.currency, l.due])).toEqual([
      ["EUR", "40.00"],
      ["USD", "5.00"],
    ]);
    // the child's chargeback takes the USD share back, in USD
    await run(change(c, 2, "reversed"));
    expect(await balance(parent)).toEqual({ EUR: "40.000000", USD: "0.000000" });
  });

  test("a held commission's shares are held with it and released with the conversion's approval", async () => {
    const p = await program({ affiliateCurrencies: ["EUR", "EUR", "EUR"] });
    const { child, parent } = await tree(p);
    await rule(p, { payout: "50", hold_days: 0 });
    const c = await conversion(p, { affiliate: child, status: "pending" });
    await run(c);
    const held = await shares(c.conversion_id);
    expect(held.map((s) => [s.affiliate_id, s.affiliate_payout, s.available_at])).toEqual([
      [parent, "5.000000", null],
      [p.affiliates[2], "2.500000", null],
    ]);
    await run(change(c, 2, "approved"));
    const [released] = await sql`
      select count(*)::int as n from ledger_entries e join ledger_releases r using (conversion_id)
      where e.conversion_id = ${c.conversion_id} and e.tier > 1 and r.available_at <= now() + interval '1 second'`;
    expect(released?.n).toBe(2);
  });

  test("a repricing adjustment is shared too, and the reversal takes every share back", async () => {
    const p = await program({ affiliateCurrencies: ["EUR", "EUR", "EUR"] });
    const { child, parent } = await tree(p);
    await rule(p, { model: "revshare", payout_percent: "30" });
    const c = await conversion(p, { affiliate: child, status: "pending", amount: null }); // a pixel: books 0
    await run(c);
    expect(await shares(c.conversion_id)).toEqual([]); // nothing to share in a zero
    await run({ ...c, seq: 2, previous_status: "pending", status: "approved", amount: "200.00" }); // +60 adjustment
    const [adjustment] =
      await sql`select id from ledger_entries where conversion_id = ${c.conversion_id} and type = 'adjustment'`;
    expect(
      (await shares(c.conversion_id)).map((s) => [s.affiliate_id, s.affiliate_payout, s.source_entry_id]),
    ).toEqual([
      [parent, "6.000000", adjustment?.id],
      [p.affiliates[2], "3.000000", adjustment?.id],
    ]);
    await run({ ...c, seq: 3, previous_status: "approved", status: "reversed", amount: "200.00" });
    for (const a of [child, parent, p.affiliates[2] as string])
      for (const total of Object.values(await balance(a))) expect(Number(total)).toBe(0);
  });
});

describe("payout caps (issue 13)", () => {
  const usage = async (offer: string) =>
    Object.fromEntries(
      (
        await sql<{ period: string; period_start: string; payout: string }[]>`
          select period, period_start::text, payout::text from offer_payout_usage where offer_id = ${offer}`
      ).map((r) => [`${r.period} ${r.period_start}`, r.payout]),
    );

  test("an offer with a payout cap counts each booking, adjustment and reversal in its currency, per brand day and month", async () => {
    const p = await program({ timezone: "Pacific/Auckland" });
    await sql`update offers set payout_cap_daily = 1000 where id = ${p.offer}`;
    await rule(p, { model: "hybrid", payout: "30", payout_percent: "10", currency: "PLN" });
    await fx("EUR", "PLN", "4.00", "2026-01-01T00:00:00Z");
    // 12:00 UTC is already the 11th in Auckland.
    const a = await conversion(p, { amount: "100", currency: "PLN" });
    await run(a);
    expect(await usage(p.offer)).toEqual({ "day 2026-03-11": "10.000000", "month 2026-03-01": "10.000000" });
    await run(await conversion(p, { amount: "0", currency: "PLN" }));
    const b = await conversion(p, { amount: "20", currency: "PLN" });
    await run(b);
    // 40 PLN + 30 PLN + 32 PLN = 102 PLN = 25.50 EUR
    expect(await usage(p.offer)).toMatchObject({ "day 2026-03-11": "25.500000" });
    await run({ ...change(b, 2, "approved"), amount: "60" }); // +4 PLN: an adjustment
    expect(await usage(p.offer)).toMatchObject({ "day 2026-03-11": "26.500000" });
    await run(change(a, 2, "reversed"));
    expect(await usage(p.offer)).toEqual({ "day 2026-03-11": "16.500000", "month 2026-03-01": "16.500000" });
  });

  test("an offer without one keeps no counter; a cap set later starts each period from the ledger", async () => {
    const p = await program();
    await rule(p, { payout: "25" });
    await run(await conversion(p));
    await run(await conversion(p));
    expect(await usage(p.offer)).toEqual({});
    await sql`update offers set payout_cap_monthly = 60 where id = ${p.offer}`;
    await run(await conversion(p, { at: "2026-03-20T12:00:00Z" }));
    expect(await usage(p.offer)).toEqual({
      "day 2026-03-20": "25.000000",
      "month 2026-03-01": "75.000000",
    });
  });

  test("concurrent bookings of one capped offer count each once", async () => {
    const p = await program();
    await sql`update offers set payout_cap_daily = 10000 where id = ${p.offer}`;
    await rule(p, { payout: "7.5" });
    const all = await Promise.all(Array.from({ length: 12 }, () => conversion(p)));
    await Promise.all(all.map(run));
    expect(await usage(p.offer)).toEqual({ "day 2026-03-10": "90.000000", "month 2026-03-01": "90.000000" });
  });
});
