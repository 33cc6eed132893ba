import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { toMicros } from "@roundtrip/contracts";
import { createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import { balances } from "./balances.ts";
import { approvePayoutRun, planPayouts, recordLineOutcome } from "./payouts.ts";

let db: TestDatabase;
let sql: Sql;
let conversionSeq = 0;
let brand: string;
let offer: string;
let advertiser: string;

const DAY = 86_400_000;
/** Today's UTC midnight: the cut-off of daily (custom, 1 day) cycles. */
const today = new Date(Math.floor(Date.now() / DAY) * DAY);
const daysAgo = (n: number) => new Date(today.getTime() - n * DAY);

beforeAll(async () => {
  db = await createTestDatabase("payouts");
  sql = db.sql;
  const [b] =
    await sql`insert into brands (slug, name, currency, timezone) values ('pay', 'Pay', 'EUR', 'UTC') returning id`;
  brand = b?.id;
  const [a] = await sql`insert into advertisers (brand_id, name) values (${brand}, 'Casino') returning id`;
  advertiser = a?.id;
  const [o] = await sql`
    insert into offers (brand_id, advertiser_id, name, destination_url, currency)
    values (${brand}, ${advertiser}, 'Welcome', 'https://casino.example/', 'EUR') returning id`;
  offer = o?.id;
});
afterAll(async () => {
  await db?.drop();
});

type Terms = {
  cycle?: string;
  cycle_days?: number | null;
  hold?: boolean;
  carryover?: string;
  details?: boolean;
};
async function affiliate(currency: string, t: Terms = {}): Promise<string> {
  const [a] =
    await sql`insert into affiliates (name, payout_currency) values ('A', ${currency}) returning id`;
  const id = a?.id as string;
  const cycle = t.cycle ?? "custom";
  await sql`
    insert into affiliate_payout_settings (affiliate_id, cycle, cycle_days, payout_hold, negative_carryover)
    values (${id}, ${cycle}, ${cycle === "custom" ? (t.cycle_days ?? 1) : null}, ${t.hold ?? false}, ${t.carryover ?? "carry"})`;
  if (t.details ?? true)
    await sql`
      insert into affiliate_payment_details (affiliate_id, method, account_reference)
      values (${id}, 'paypal', ${`aff${id}@pay.example`})`;
  return id;
}

/**
 * An entry as commission books it (the commission service's tests cover how), created and
 * payable at given moments: `payableAt` null = held for approval.
 */
async function earned(
  aff: string,
  amount: string,
  currency: string,
  day: Date,
  payableDay: Date | null,
  type = "commission",
  offerId = offer,
) {
  // an hour into the day: inside its period, never on a boundary
  const createdAt = new Date(day.getTime() + 3_600_000);
  const payableAt = payableDay && new Date(payableDay.getTime() + 3_600_000);
  const [c] = await sql`
    insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event,
                             status, currency, occurred_at, receipt_id)
    values (${advertiser}, ${brand}, ${offerId}, ${aff}, 1, ${`c${++conversionSeq}`}, now(), ${`t${conversionSeq}`}, 'ftd',
            'approved', ${currency}, now(), 1) returning id`;
  await sql`
    insert into ledger_entries (conversion_id, change_seq, affiliate_id, offer_id, type, payout, revenue, currency,
                                affiliate_payout, affiliate_currency, available_at, created_at, reverses_entry_id)
    values (${c?.id}, 1, ${aff}, ${offerId}, ${type}, ${amount}, 0, ${currency}, ${amount}, ${currency}, ${payableAt}, ${createdAt},
            ${type === "reversal" ? sql`(select min(id) from ledger_entries)` : null})`;
}

const lineOf = async (aff: string, cutoff = today) =>
  (await sql.begin((tx) => planPayouts(tx, cutoff, { affiliateId: aff }))).lines;

describe("payout cycles, thresholds and holds", () => {
  test("what is due: approved entries out of hold before the cut-off; each reason why not", async () => {
    await sql`insert into payout_minimums (currency, minimum) values ('EUR', 50), ('USD', 0)`;
    const a = await affiliate("EUR");
    await earned(a, "40.00", "EUR", daysAgo(3), daysAgo(1));
    await earned(a, "25.00", "EUR", daysAgo(2), daysAgo(1));
    await earned(a, "99.00", "EUR", daysAgo(2), null); // pending approval
    await earned(a, "70.00", "EUR", daysAgo(2), new Date(today.getTime() + 5 * DAY)); // still in its hold
    expect(await lineOf(a)).toMatchObject([{ currency: "EUR", due: "65.00", paid: true, reason: null }]);

    const small = await affiliate("EUR");
    await earned(small, "49.99", "EUR", daysAgo(2), daysAgo(1));
    expect((await lineOf(small))[0]).toMatchObject({
      due: "49.99",
      paid: false,
      reason: "below_minimum",
      minimum: "50.00",
    });

    const held = await affiliate("EUR", { hold: true });
    await earned(held, "80.00", "EUR", daysAgo(2), daysAgo(1));
    expect((await lineOf(held))[0]).toMatchObject({ paid: false, reason: "on_hold" });

    const nowhere = await affiliate("USD", { details: false });
    await earned(nowhere, "80.00", "USD", daysAgo(2), daysAgo(1));
    expect((await lineOf(nowhere))[0]).toMatchObject({ paid: false, reason: "missing_payment_details" });

    // a weekly affiliate is in a run only on its boundaries; monthly on the first
    const weekly = await affiliate("EUR", { cycle: "weekly" });
    await earned(weekly, "80.00", "EUR", daysAgo(9), daysAgo(8));
    const monday = new Date(
      Date.UTC(2024, 0, 1) + Math.floor((today.getTime() - Date.UTC(2024, 0, 1)) / (7 * DAY)) * 7 * DAY,
    );
    expect((await lineOf(weekly, monday))[0]).toMatchObject({
      paid: true,
      period_start: new Date(monday.getTime() - 7 * DAY),
    });
    expect((await lineOf(weekly, new Date(monday.getTime() - DAY)))[0]).toMatchObject({
      paid: false,
      reason: "not_in_cycle",
    });
  });
});

describe("payout runs", () => {
  test("an approved run reconciles to the ledger to the cent per currency; results mark lines; a failed line returns", async () => {
    const eur = [await affiliate("EUR"), await affiliate("EUR")];
    const usd = await affiliate("USD");
    const jpy = await affiliate("JPY");
    await earned(eur[0] as string, "100.01", "EUR", daysAgo(2), daysAgo(1));
    await earned(eur[1] as string, "333.33", "EUR", daysAgo(2), daysAgo(1));
    await earned(usd, "70.10", "USD", daysAgo(2), daysAgo(1));
    await earned(jpy, "12345", "JPY", daysAgo(2), daysAgo(1));
    const before = await balances(sql, { asOf: new Date() });
    const run = await sql.begin((tx) => approvePayoutRun(tx, today, "user:test", "run-reconcile-1"));
    expect(run.created).toBe(true);
    const lines = await sql<{ id: string; affiliate_id: string; currency: string; amount: string }[]>`
      select id, affiliate_id, currency, amount::text from payout_lines where run_id = ${run.run_id}`;
    const [stored] = await sql<{ totals: Record<string, { amount: string; lines: number }> }[]>`
      select totals from payout_runs where id = ${run.run_id}`;
    // per currency: the run's total = its lines = what left the ledger (payout entries) = the balance drop
    const after = await balances(sql, { asOf: new Date() });
    for (const [currency, total] of Object.entries(stored?.totals ?? {})) {
      const ofCurrency = lines.filter((l) => l.currency === currency);
      expect(ofCurrency.reduce((s, l) => s + toMicros(l.amount), 0n)).toBe(toMicros(total.amount));
      const [moved] = await sql<{ sum: string }[]>`
        select sum(affiliate_payout)::text as sum from ledger_entries
        where type = 'payout' and payout_line_id in ${sql(ofCurrency.map((l) => l.id))}`;
      expect(-toMicros(moved?.sum as string)).toBe(toMicros(total.amount));
      const drop = (rows: typeof before) =>
        rows.filter((r) => r.currency === currency).reduce((s, r) => s + toMicros(r.available), 0n);
      expect(drop(before) - drop(after)).toBe(toMicros(total.amount));
    }
    expect(stored?.totals.JPY).toEqual({ amount: "12345", lines: 1 });
    // the same key again: the same run, nothing paid twice; a second run finds nothing due
    const again = await sql.begin((tx) => approvePayoutRun(tx, today, "user:test", "run-reconcile-1"));
    expect(again).toMatchObject({ run_id: run.run_id, created: false });
    expect((await lineOf(usd))[0]).toMatchObject({ due: "0.00", paid: false, reason: "nothing_due" });
    // the provider's results: paid stays paid; failed returns the amount to the balance, once
    const usdLine = lines.find((l) => l.currency === "USD") as { id: string };
    const jpyLine = lines.find((l) => l.currency === "JPY") as { id: string };
    expect(
      await sql.begin((tx) =>
        recordLineOutcome(tx, jpyLine.id, { status: "paid", provider_reference: "PP-1" }, "t"),
      ),
    ).toEqual({ changed: true, status: "paid" });
    await sql.begin((tx) =>
      recordLineOutcome(tx, usdLine.id, { status: "failed", failure_reason: "receiver unregistered" }, "t"),
    );
    expect(await sql.begin((tx) => recordLineOutcome(tx, usdLine.id, { status: "failed" }, "t"))).toEqual({
      changed: false,
      status: "failed",
    });
    const conflict = await sql
      .begin((tx) => recordLineOutcome(tx, usdLine.id, { status: "paid" }, "t"))
      .catch((e) => e);
    expect(conflict.code).toBe("idempotency_conflict");
    expect((await balances(sql, { affiliateId: usd, asOf: new Date() }))[0]).toMatchObject({
      available: "70.10",
      paid: "0.00",
    });
    expect((await balances(sql, { affiliateId: jpy, asOf: new Date() }))[0]).toMatchObject({
      available: "0",
      paid: "-12345",
    });
    // lines and runs are immutable
    expect(
      String(await sql`update payout_lines set amount = 1 where id = ${jpyLine.id}`.catch((e) => e)),
    ).toContain("immutable");
    expect(
      String(await sql`update payout_runs set actor = 'x' where id = ${run.run_id}`.catch((e) => e)),
    ).toContain("immutable");
  });

  test("a reversal after payment leaves a negative balance that the next cycle nets off", async () => {
    const a = await affiliate("EUR");
    await earned(a, "120.00", "EUR", daysAgo(3), daysAgo(2));
    await sql.begin((tx) => approvePayoutRun(tx, daysAgo(1), "user:test", null));
    expect((await balances(sql, { affiliateId: a, asOf: new Date() }))[0]?.available).toBe("0.00");
    // the conversion is charged back after it was paid, then new earnings arrive
    await earned(a, "-120.00", "EUR", daysAgo(1), daysAgo(1), "reversal");
    await earned(a, "200.00", "EUR", daysAgo(1), daysAgo(1));
    expect((await lineOf(a))[0]).toMatchObject({ due: "80.00", paid: true });
    const run = await sql.begin((tx) => approvePayoutRun(tx, today, "user:test", null));
    const [line] =
      await sql`select amount::text from payout_lines where run_id = ${run.run_id} and affiliate_id = ${a}`;
    expect(line?.amount).toBe("80.000000");
  });
});

describe("negative carryover", () => {
  test("carry: a negative period stays in the balance, shown carried out and in, netted off by the next period", async () => {
    const a = await affiliate("EUR", { carryover: "carry" });
    await earned(a, "50.00", "EUR", daysAgo(3), daysAgo(3));
    await earned(a, "-80.00", "EUR", daysAgo(2), daysAgo(2), "reversal"); // NGR below zero in period [-2, -1)
    await sql.begin((tx) => approvePayoutRun(tx, daysAgo(2), "user:test", null)); // closes [-3, -2): +50 paid
    await sql.begin((tx) => approvePayoutRun(tx, daysAgo(1), "user:test", null)); // closes [-2, -1): −80
    const carried = await sql`
      select reason, affiliate_payout::text, occurred_at from ledger_entries where affiliate_id = ${a} and type = 'carryover' order by id`;
    expect(carried.map((c) => [c.reason, c.affiliate_payout])).toEqual([
      ["carried_out", "80.000000"],
      ["carried_in", "-80.000000"],
    ]);
    expect((await balances(sql, { affiliateId: a, asOf: new Date() }))[0]?.available).toBe("-80.00");
    await earned(a, "100.00", "EUR", daysAgo(1), daysAgo(1));
    // the next period starts at −80 (carried in) and earns 100: 20 due, nothing more to carry
    const plan = await lineOf(a);
    expect(plan[0]).toMatchObject({ due: "20.00", carryover: "0.00", reason: "below_minimum" }); // EUR minimum 50
  });

  test("reset: a negative period is written off at its end; the next period starts from zero", async () => {
    const a = await affiliate("EUR", { carryover: "reset" });
    await earned(a, "-80.00", "EUR", daysAgo(2), daysAgo(2), "reversal");
    const plan = await lineOf(a, daysAgo(1));
    expect(plan[0]).toMatchObject({ due: "0.00", carryover: "80.00", reason: "nothing_due" });
    await sql.begin((tx) => approvePayoutRun(tx, daysAgo(1), "user:test", null));
    await sql.begin((tx) => approvePayoutRun(tx, daysAgo(1), "user:test", null)); // closing twice books once
    const reset =
      await sql`select reason, affiliate_payout::text from ledger_entries where affiliate_id = ${a} and type = 'carryover'`;
    expect(reset.map((c) => [c.reason, c.affiliate_payout])).toEqual([["reset", "80.000000"]]);
    await earned(a, "100.00", "EUR", daysAgo(1), daysAgo(1));
    expect((await lineOf(a))[0]).toMatchObject({ due: "100.00", paid: true });
  });

  test("per offer: a RevShare offer that resets beside the affiliate's carry, each booked in its own scope", async () => {
    const a = await affiliate("EUR", { carryover: "carry" });
    const [revshare] = await sql`
      insert into offers (brand_id, advertiser_id, name, destination_url, currency)
      values (${brand}, ${advertiser}, 'Casino RevShare', 'https://casino.example/', 'EUR') returning id`;
    await sql`
      insert into affiliate_offer_carryover (affiliate_id, offer_id, negative_carryover) values (${a}, ${revshare?.id}, 'reset')`;
    await earned(a, "-30.00", "EUR", daysAgo(2), daysAgo(2), "reversal");
    await earned(a, "-80.00", "EUR", daysAgo(2), daysAgo(2), "reversal", revshare?.id);
    const [line] = await lineOf(a, daysAgo(1));
    expect(line).toMatchObject({ due: "-30.00", carryover: "80.00", reason: "nothing_due" });
    await sql.begin((tx) => approvePayoutRun(tx, daysAgo(1), "user:test", null));
    const booked = await sql`
      select offer_id, reason, affiliate_payout::text from ledger_entries where affiliate_id = ${a} and type = 'carryover' order by id`;
    expect(booked.map((b) => [b.offer_id, b.reason, b.affiliate_payout])).toEqual([
      [null, "carried_out", "30.000000"],
      [null, "carried_in", "-30.000000"],
      [revshare?.id, "reset", "80.000000"],
    ]);
  });
});

describe("cycles in the affiliate's time zone", () => {
  async function zoned(zone: string, cycle = "weekly"): Promise<string> {
    const a = await affiliate("EUR", { cycle });
    await sql`update affiliate_payout_settings set time_zone = ${zone} where affiliate_id = ${a}`;
    return a;
  }
  /** An adjustment created and payable at `at` (no conversion needed). */
  const at = (aff: string, amount: string, iso: string) => sql`
    insert into ledger_entries (affiliate_id, type, payout, revenue, currency, affiliate_payout, affiliate_currency,
                                available_at, created_at, reason, actor)
    values (${aff}, 'adjustment', ${amount}, 0, 'EUR', ${amount}, 'EUR', ${iso}, ${iso}, 'earned', 'test')`;
  // Monday 2026-03-30: the week before holds Berlin's spring change (Sunday 29 March, 02:00 → 03:00)
  const run = new Date("2026-03-30T00:00:00Z");

  test("a run for a day pays each affiliate up to that day's midnight in its zone, across a DST change", async () => {
    const berlin = await zoned("Europe/Berlin");
    await at(berlin, "100.00", "2026-03-29T21:30:00Z"); // 23:30 in Berlin: this week
    await at(berlin, "70.00", "2026-03-29T22:30:00Z"); // 00:30 Monday in Berlin (before UTC's midnight): next week
    const [line] = await lineOf(berlin, run);
    expect(line).toMatchObject({
      due: "100.00",
      paid: true,
      // a week an hour short: Berlin's midnights, CET then CEST
      period_start: new Date("2026-03-22T23:00:00Z"),
      period_end: new Date("2026-03-29T22:00:00Z"),
    });
    // the same instants in UTC: both entries fall before the UTC midnight
    const utc = await zoned("UTC");
    await at(utc, "100.00", "2026-03-29T21:30:00Z");
    await at(utc, "70.00", "2026-03-29T22:30:00Z");
    expect((await lineOf(utc, run))[0]).toMatchObject({ due: "170.00", period_end: run });

    const approved = await sql.begin((tx) => approvePayoutRun(tx, run, "user:test", null));
    const paid = await sql`
      select affiliate_id, amount::text, period_start, period_end from payout_lines
      where run_id = ${approved.run_id} and affiliate_id in ${sql([berlin, utc])} order by affiliate_id`;
    expect(paid.map((p) => [p.affiliate_id, p.amount, p.period_end])).toEqual([
      [berlin, "100.000000", new Date("2026-03-29T22:00:00Z")],
      [utc, "170.000000", run],
    ]);
    const [statement] =
      await sql`select period_start, period_end from statements where affiliate_id = ${berlin}`;
    expect(statement).toMatchObject({ period_end: new Date("2026-03-29T22:00:00Z") });
    // Berlin's next week pays what came after its midnight
    expect((await lineOf(berlin, new Date("2026-04-06T00:00:00Z")))[0]).toMatchObject({
      due: "70.00",
      paid: true,
    });
  });

  test("an affiliate whose midnight is still ahead is not paid yet (period_not_ended); the same day's run pays it later", async () => {
    const la = await zoned("America/Los_Angeles");
    await at(la, "60.00", "2026-03-30T05:00:00Z"); // Sunday 22:00 in Los Angeles (PDT)
    const early = new Date("2026-03-30T06:00:00Z"); // 23:00 Sunday in Los Angeles: its week has not ended
    const plan = await sql.begin((tx) => planPayouts(tx, run, { affiliateId: la, now: early }));
    expect(plan.lines[0]).toMatchObject({
      paid: false,
      reason: "period_not_ended",
      period_end: new Date("2026-03-30T07:00:00Z"),
    });
    expect(plan.carryovers).toEqual([]);
    expect((await lineOf(la, run))[0]).toMatchObject({ due: "60.00", paid: true });
  });

  test("localMidnight agrees with PostgreSQL's time zone database", async () => {
    const { localMidnight } = await import("./cycles.ts");
    const zones = [
      "Europe/Berlin",
      "America/New_York",
      "Australia/Sydney",
      "Asia/Kolkata",
      "America/Sao_Paulo",
    ];
    const dates = Array.from({ length: 400 }, (_, i) =>
      new Date(Date.UTC(2025, 0, 1) + i * 86_400_000).toISOString().slice(0, 10),
    );
    for (const zone of zones) {
      const rows = await sql<{ d: string; at: Date }[]>`
        select d::text, (d::timestamp at time zone ${zone}) as at
        from unnest(${dates}::date[]) as d`;
      for (const r of rows) expect([r.d, localMidnight(r.d, zone)]).toEqual([r.d, r.at]);
    }
  });
});
