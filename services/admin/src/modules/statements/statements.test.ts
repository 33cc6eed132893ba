import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { extractText, getDocumentProxy } from "unpdf";
import { type TestAdmin, testAdmin } from "../../testing/money-app.ts";

let admin: TestAdmin;
let p: Awaited<ReturnType<TestAdmin["program"]>>;
let parent: string;
let stranger: string;
const DAY = 86_400_000;
const midnight = new Date(Math.floor(Date.now() / DAY) * DAY);
const yesterday = new Date(midnight.getTime() - DAY / 2);
let n = 0;

/** A conversion of the affiliate and the entry commission booked for it, yesterday. */
async function booked(affiliate: string, event: string, amount: string) {
  const [c] = await admin.sql`
    insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event, status,
                             currency, occurred_at, receipt_id)
    values (${p.advertiser}, ${p.brand}, ${p.offer}, ${affiliate}, 1, ${`c${++n}`}, now(), ${`t${n}`}, ${event}, 'approved', 'EUR', now(), 1)
    returning id`;
  const [e] = await admin.sql`
    insert into ledger_entries (conversion_id, change_seq, affiliate_id, offer_id, type, payout, revenue, currency,
                                affiliate_payout, affiliate_currency, available_at, created_at)
    values (${c?.id}, 1, ${affiliate}, ${p.offer}, 'commission', ${amount}, 0, 'EUR', ${amount}, 'EUR', ${yesterday}, ${yesterday})
    returning id, conversion_id`;
  return e as { id: string; conversion_id: string };
}

beforeAll(async () => {
  admin = await testAdmin("statements");
  p = await admin.program();
  const ok = async (name: string) =>
    (await admin.call<{ id: string }>("POST", "/v1/affiliates", { name, payout_currency: "EUR" })).body.id;
  parent = await ok("Parent Media");
  stranger = await ok("Stranger");
  for (const a of [p.affiliate, parent, stranger]) {
    await admin.call("PUT", `/v1/affiliates/${a}/payout-settings`, { cycle: "custom", cycle_days: 1 });
    await admin.call("PUT", `/v1/affiliates/${a}/payment-details`, {
      method: "bank_transfer",
      account_reference: `DE893704004405320${a.padStart(5, "0")}`,
      vat_number: "DE123456789",
      vat_rate: "19",
    });
  }
  await booked(p.affiliate, "ftd", "100.00");
  await booked(p.affiliate, "ftd", "50.00");
  await booked(p.affiliate, "deposit", "12.34");
  const child = await booked(stranger, "ftd", "200.00");
  // the parent's tier-2 share of the stranger's commission
  await admin.sql`
    insert into ledger_entries (conversion_id, change_seq, affiliate_id, offer_id, type, tier, source_entry_id, payout, revenue,
                                currency, affiliate_payout, affiliate_currency, available_at, created_at)
    values (${child.conversion_id}, 1, ${parent}, ${p.offer}, 'sub_commission', 2, ${child.id}, 20, 0, 'EUR', 20, 'EUR',
            ${yesterday}, ${yesterday})`;
  await admin.sql`
    insert into ledger_entries (affiliate_id, type, payout, revenue, currency, affiliate_payout, affiliate_currency,
                                available_at, created_at, reason, actor)
    values (${p.affiliate}, 'adjustment', -2.34, 0, 'EUR', -2.34, 'EUR', ${yesterday}, ${yesterday}, 'traffic quality', 'test')`;
  const run = await admin.call("POST", "/v1/payout-runs", { period_end: midnight.toISOString() });
  if (run.status !== 201) throw new Error(JSON.stringify(run.body));
});
afterAll(async () => {
  await admin?.close();
});

const statementOf = async (affiliate: string) => {
  const [s] = await admin.sql`select id::text from statements where affiliate_id = ${affiliate}`;
  return s?.id as string;
};

describe("statements", () => {
  test("content: lines by offer and event, adjustments, totals, VAT, the payout", async () => {
    const s = await admin.call<Record<string, unknown>>(
      "GET",
      `/v1/statements/${await statementOf(p.affiliate)}`,
    );
    expect(s.status).toBe(200);
    expect(s.body.currencies).toEqual([
      {
        currency: "EUR",
        lines: [
          {
            offer_id: p.offer,
            offer: "Welcome",
            event: "ftd",
            type: "commission",
            count: 2,
            amount: "150.00",
          },
          {
            offer_id: p.offer,
            offer: "Welcome",
            event: "deposit",
            type: "commission",
            count: 1,
            amount: "12.34",
          },
        ],
        adjustments: [expect.objectContaining({ reason: "traffic quality", amount: "-2.34" })],
        sub_affiliate: "0.00",
        carryover: [],
        earned: "160.00",
        vat: { rate: "19.00", amount: "30.40", gross: "190.40" },
        payouts: [expect.objectContaining({ amount: "160.00", status: "pending", method: "bank_transfer" })],
      },
    ]);
    const parentStatement = await admin.call<{ currencies: { sub_affiliate: string }[] }>(
      "GET",
      `/v1/statements/${await statementOf(parent)}`,
    );
    expect(parentStatement.body.currencies[0]?.sub_affiliate).toBe("20.00");
  });

  test("the PDF's text carries the statement (extracted with unpdf); the HTML page too", async () => {
    const id = await statementOf(p.affiliate);
    const pdf = await admin.text(`/v1/statements/${id}/pdf`);
    expect(pdf.type).toBe("application/pdf");
    const { text } = await extractText(await getDocumentProxy(pdf.bytes), { mergePages: true });
    for (const expected of [
      `Statement ${id}`,
      "Welcome / ftd / commission: 2 x, 150.00 EUR",
      "Welcome / deposit / commission: 1 x, 12.34 EUR",
      "Adjustment (traffic quality): -2.34 EUR",
      "Total EUR: 160.00",
      "VAT 19.00 %: 30.40 EUR, gross 190.40 EUR",
      "VAT number DE123456789",
    ])
      expect(text).toContain(expected);
    expect(text).not.toContain("DE893704004405320");
    const html = await admin.text(`/v1/statements/${id}/html`);
    expect(html.type).toContain("text/html");
    expect(html.text).toContain("Total EUR: 160.00");
  });

  test("an affiliate downloads its own statements and never another's", async () => {
    const key = await admin.affiliateKey(p.affiliate);
    const list = await admin.call<{ data: { affiliate_id: string }[] }>("GET", "/v1/statements", undefined, {
      key,
    });
    expect(list.body.data.map((s) => s.affiliate_id)).toEqual([p.affiliate]);
    expect(
      (await admin.call("GET", `/v1/statements?affiliate_id=${parent}`, undefined, { key })).status,
    ).toBe(404);
    const theirs = await statementOf(parent);
    expect((await admin.call("GET", `/v1/statements/${theirs}`, undefined, { key })).status).toBe(404);
    expect((await admin.text(`/v1/statements/${theirs}/pdf`, { key })).status).toBe(404);
    expect((await admin.text(`/v1/statements/${theirs}/html`, { key })).status).toBe(404);
    expect((await admin.text(`/v1/statements/${await statementOf(p.affiliate)}/pdf`, { key })).status).toBe(
      200,
    );
  });

  test("reports show sub-affiliate earnings: per parent, sub-affiliate and tier; a parent's key sees its own", async () => {
    const row = {
      affiliate_id: parent,
      sub_affiliate_id: stranger,
      sub_affiliate_name: "Stranger",
      tier: 2,
      currency: "EUR",
      conversions: 1,
      earned: "20.00",
      reversed: "0.00",
      net: "20.00",
    };
    expect((await admin.call("GET", "/v1/sub-affiliates/earnings")).body).toEqual({ data: [row] });
    const key = await admin.affiliateKey(parent);
    expect((await admin.call("GET", "/v1/sub-affiliates/earnings", undefined, { key })).body).toEqual({
      data: [row],
    });
    const other = await admin.affiliateKey(stranger);
    expect((await admin.call("GET", "/v1/sub-affiliates/earnings", undefined, { key: other })).body).toEqual({
      data: [],
    });
    expect(
      (
        await admin.call("GET", `/v1/sub-affiliates/earnings?affiliate_id=${parent}`, undefined, {
          key: other,
        })
      ).status,
    ).toBe(404);
  });
});

describe("statements in the affiliate's time zone", () => {
  test("a period of local days is shown as local dates (UTC+14: its midnight is 10:00 UTC the day before)", async () => {
    const id = (
      await admin.call<{ id: string }>("POST", "/v1/affiliates", {
        name: "Line Islands",
        payout_currency: "EUR",
      })
    ).body.id;
    await admin.call("PUT", `/v1/affiliates/${id}/payout-settings`, {
      cycle: "custom",
      cycle_days: 1,
      time_zone: "Pacific/Kiritimati",
    });
    await admin.call("PUT", `/v1/affiliates/${id}/payment-details`, {
      method: "paypal",
      account_reference: "line@islands.example",
    });
    const localMidnight = new Date(midnight.getTime() - 14 * 3_600_000); // today begins there
    const lateYesterday = new Date(localMidnight.getTime() - 3_600_000);
    await admin.sql`
      insert into ledger_entries (affiliate_id, type, payout, revenue, currency, affiliate_payout, affiliate_currency,
                                  available_at, created_at, reason, actor)
      values (${id}, 'adjustment', 70, 0, 'EUR', 70, 'EUR', ${lateYesterday}, ${lateYesterday}, 'bonus', 'test')`;
    const run = await admin.call<{ lines: { affiliate_id: string; amount: string; period_end: string }[] }>(
      "POST",
      "/v1/payout-runs",
      { period_end: midnight.toISOString().slice(0, 10) },
    );
    expect(run.body.lines.find((l) => l.affiliate_id === id)).toMatchObject({
      amount: "70.00",
      period_end: localMidnight.toISOString(),
    });
    const statement = await statementOf(id);
    const json = await admin.call<{ time_zone: string; period_end: string }>(
      "GET",
      `/v1/statements/${statement}`,
    );
    expect(json.body).toMatchObject({
      time_zone: "Pacific/Kiritimati",
      period_end: localMidnight.toISOString(),
    });
    const today = midnight.toISOString().slice(0, 10);
    const dayBefore = new Date(midnight.getTime() - DAY).toISOString().slice(0, 10);
    const html = await admin.text(`/v1/statements/${statement}/html`);
    expect(html.text).toContain(`period ${dayBefore} to ${today}`);
    const pdf = await admin.text(`/v1/statements/${statement}/pdf`);
    const { text } = await extractText(await getDocumentProxy(pdf.bytes), { mergePages: true });
    expect(text).toContain(`Period ${dayBefore} to ${today}`);
  });
});
