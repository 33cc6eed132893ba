import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Balance } from "@roundtrip/ledger";
import { type TestAdmin, testAdmin } from "../../testing/money-app.ts";

let admin: TestAdmin;
let p: Awaited<ReturnType<TestAdmin["program"]>>;

beforeAll(async () => {
  admin = await testAdmin("balances");
  p = await admin.program();
});
afterAll(async () => {
  await admin?.close();
});

let n = 0;
async function conversion(affiliate: string): Promise<string> {
  const [c] = await admin.sql`
    insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event, status,
                             currency, occurred_at, receipt_id)
    values (${p.advertiser}, ${p.brand}, ${p.offer}, ${affiliate}, 1, ${`c${++n}`}, now(), ${`t${n}`}, 'ftd', 'approved', 'EUR', now(), 1)
    returning id`;
  return c?.id;
}

/** What commission books (the ledger's own tests cover how). */
async function entry(
  conversionId: string,
  affiliate: string,
  type: string,
  amount: string,
  availableAt: string | null,
  currency = "EUR",
) {
  await admin.sql`
    insert into ledger_entries (conversion_id, change_seq, affiliate_id, offer_id, type, payout, revenue, currency,
                                affiliate_payout, affiliate_currency, available_at)
    values (${conversionId}, ${type === "commission" ? 1 : 2}, ${affiliate}, ${p.offer}, ${type}, ${amount}, 0, ${currency},
            ${amount}, ${currency}, ${availableAt === null ? null : admin.sql`now() + ${availableAt}::interval`})`;
}

const balance = async (query = `affiliate_id=${p.affiliate}`) =>
  (await admin.call<{ data: Balance[] }>("GET", `/v1/balances?${query}`)).body.data;

describe("balances derived from the ledger", () => {
  test("available, pending (held for approval or inside the hold) and reversals netting out", async () => {
    const a = p.affiliate;
    await entry(await conversion(a), a, "commission", "25.00", "-1 day"); // payable
    await entry(await conversion(a), a, "commission", "40.00", "30 days"); // inside its hold
    const held = await conversion(a);
    await entry(held, a, "commission", "10.00", null); // pending approval
    const reversed = await conversion(a);
    await entry(reversed, a, "commission", "15.00", "-1 day");
    await entry(reversed, a, "reversal", "-15.00", "-1 day");
    expect(await balance()).toEqual([
      {
        affiliate_id: a,
        currency: "EUR",
        available: "25.00",
        pending: "50.00",
        total: "75.00",
        commission: "90.00",
        reversal: "-15.00",
        adjustment: "0.00",
        sub_affiliate: "0.00",
        paid: "0.00",
        carryover: "0.00",
        entries: 5,
      } as Balance,
    ]);
    // approval releases the held one; in 31 days the hold has passed too
    await admin.sql`insert into ledger_releases (conversion_id, change_seq, available_at) values (${held}, 2, now())`;
    const later = new Date(Date.now() + 31 * 86_400_000).toISOString();
    expect((await balance(`affiliate_id=${a}&as_of=${later}`))[0]).toMatchObject({
      available: "75.00",
      pending: "0.00",
    });
  });

  test("per currency; adjustments are entries too, booked once per idempotency key", async () => {
    const [b] =
      await admin.sql`insert into affiliates (name, payout_currency) values ('B', 'USD') returning id`;
    const aff = b?.id as string;
    await entry(await conversion(aff), aff, "commission", "30.00", "-1 day", "USD");
    const adj = {
      affiliate_id: aff,
      amount: "-12.50",
      currency: "USD",
      reason: "chargeback outside the tracker",
      idempotency_key: "adj-0001-usd",
    };
    const first = await admin.call<{ id: string; type: string }>("POST", "/v1/balances/adjustments", adj);
    expect(first.status).toBe(201);
    expect(first.body.type).toBe("adjustment");
    const again = await admin.call<{ id: string }>("POST", "/v1/balances/adjustments", adj);
    expect(again).toEqual({ status: 200, body: expect.objectContaining({ id: first.body.id }) });
    expect((await admin.call("POST", "/v1/balances/adjustments", { ...adj, amount: "-13.00" })).status).toBe(
      409,
    );
    await admin.call("POST", "/v1/balances/adjustments", {
      affiliate_id: aff,
      amount: "1000",
      currency: "JPY",
      reason: "bonus",
    });
    const rows = await balance(`affiliate_id=${aff}`);
    expect(rows.map((r) => [r.currency, r.available, r.adjustment])).toEqual([
      ["JPY", "1000", "1000"],
      ["USD", "17.50", "-12.50"],
    ]);
  });

  test("an adjustment must fit the currency's minor unit and move money", async () => {
    const body = { affiliate_id: p.affiliate, currency: "EUR", reason: "test" };
    expect((await admin.call("POST", "/v1/balances/adjustments", { ...body, amount: "1.005" })).status).toBe(
      400,
    );
    expect(
      (await admin.call("POST", "/v1/balances/adjustments", { ...body, currency: "JPY", amount: "1.5" }))
        .status,
    ).toBe(400);
    expect((await admin.call("POST", "/v1/balances/adjustments", { ...body, amount: "0.00" })).status).toBe(
      400,
    );
  });

  test("an affiliate sees only its own balance and cannot adjust it", async () => {
    const key = await admin.affiliateKey(p.affiliate);
    const rows = (await admin.call<{ data: Balance[] }>("GET", "/v1/balances", undefined, { key })).body.data;
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => (r as unknown as { affiliate_id: string }).affiliate_id === p.affiliate)).toBe(
      true,
    );
    const r = await admin.call(
      "POST",
      "/v1/balances/adjustments",
      { affiliate_id: p.affiliate, amount: "5", currency: "EUR", reason: "mine" },
      { key },
    );
    expect(r.status).toBe(403);
  });
});
