import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { toMicros } from "@roundtrip/contracts";
import type { Balance } from "@roundtrip/ledger";
import { OUTBOX_CHANNEL } from "@roundtrip/bus";
import { parse } from "csv-parse/sync";
import { type TestAdmin, testAdmin } from "../../testing/money-app.ts";

let admin: TestAdmin;
const DAY = 86_400_000;
const midnight = new Date(Math.floor(Date.now() / DAY) * DAY);
const periodEnd = midnight.toISOString();

type Line = {
  id: string;
  provider_reference: string | null;
  failure_reason: string | null;
  account_reference_masked: string | null;
  affiliate_id: string;
  currency: string;
  amount: string;
  method: string;
  status: string;
};
type Run = { id: string; totals: Record<string, { amount: string; lines: number }>; lines: Line[] };
type PlanLine = { affiliate_id: string; currency: string; due: string; paid: boolean; reason: string | null };

const who: Record<string, string> = {};

async function affiliate(name: string, currency: string, details: Record<string, string> | null) {
  const a = await admin.call<{ id: string }>("POST", "/v1/affiliates", { name, payout_currency: currency });
  const id = a.body.id;
  who[name] = id;
  await admin.call("PUT", `/v1/affiliates/${id}/payout-settings`, { cycle: "custom", cycle_days: 1 });
  if (details) await admin.call("PUT", `/v1/affiliates/${id}/payment-details`, details);
  return id;
}

/** An amount earned yesterday and payable since (what commission books; its own tests cover how). */
async function earned(affiliateId: string, amount: string, currency: string) {
  const at = new Date(midnight.getTime() - DAY / 2);
  await admin.sql`
    insert into ledger_entries (affiliate_id, type, payout, revenue, currency, affiliate_payout, affiliate_currency,
                                available_at, created_at, reason, actor)
    values (${affiliateId}, 'adjustment', ${amount}, 0, ${currency}, ${amount}, ${currency}, ${at}, ${at}, 'earned', 'test')`;
}

beforeAll(async () => {
  admin = await testAdmin("payout-runs");
  await admin.call("PUT", "/v1/payout-minimums/EUR", { minimum: "50" });
  await earned(
    await affiliate("paypal", "EUR", { method: "paypal", account_reference: "pp@aff.example" }),
    "120.55",
    "EUR",
  );
  await earned(
    await affiliate("bank", "EUR", {
      method: "bank_transfer",
      account_reference: "DE89 3704 0044 0532 0130 00",
      account_holder: "Bank Affiliate GmbH",
      bic: "COBADEFFXXX",
    }),
    "1000.01",
    "EUR",
  );
  await earned(
    await affiliate("tipalti", "USD", { method: "tipalti", account_reference: "PAYEE-77-ABC" }),
    "75.10",
    "USD",
  );
  await earned(
    await affiliate("jpy", "JPY", { method: "paypal", account_reference: "jp@aff.example" }),
    "9999",
    "JPY",
  );
  await earned(await affiliate("nodetails", "EUR", null), "80.00", "EUR");
  await earned(
    await affiliate("small", "EUR", { method: "paypal", account_reference: "small@aff.example" }),
    "49.99",
    "EUR",
  );
});
afterAll(async () => {
  await admin?.close();
});

const balances = async () => (await admin.call<{ data: Balance[] }>("GET", "/v1/balances")).body.data;
const available = (rows: Balance[], currency: string) =>
  rows.filter((r) => r.currency === currency).reduce((s, r) => s + toMicros(r.available), 0n);

let approved: Run;

describe("payout runs through the API", () => {
  test("preview says who is paid how much and why not; writes nothing", async () => {
    const r = await admin.call<{ lines: PlanLine[]; totals: Run["totals"] }>(
      "POST",
      "/v1/payout-runs/preview",
      {
        period_end: periodEnd,
      },
    );
    expect(r.status).toBe(200);
    const byName = (n: string) => r.body.lines.find((l) => l.affiliate_id === who[n]);
    expect(byName("paypal")).toMatchObject({ due: "120.55", paid: true, reason: null });
    expect(byName("nodetails")).toMatchObject({ paid: false, reason: "missing_payment_details" });
    expect(byName("small")).toMatchObject({ paid: false, reason: "below_minimum" });
    expect(r.body.totals).toEqual({
      EUR: { amount: "1120.56", lines: 2 },
      USD: { amount: "75.10", lines: 1 },
      JPY: { amount: "9999", lines: 1 },
    });
    expect(JSON.stringify(r.body)).not.toContain("pp@aff.example");
    const [n] = await admin.sql`select count(*)::int as n from payout_runs`;
    expect(n?.n).toBe(0);
    const future = await admin.call("POST", "/v1/payout-runs/preview", {
      period_end: new Date(midnight.getTime() + 2 * DAY).toISOString(), // begun nowhere yet
    });
    expect(future.status).toBe(400);
    const notMidnight = await admin.call("POST", "/v1/payout-runs/preview", {
      period_end: new Date(midnight.getTime() - 1000).toISOString(),
    });
    expect(notMidnight.status).toBe(400);
  });

  test("approval: an immutable batch whose totals reconcile to the ledger to the cent per currency", async () => {
    const before = await balances();
    const r = await admin.call<Run>("POST", "/v1/payout-runs", {
      period_end: periodEnd,
      idempotency_key: "run-0001-api",
    });
    expect(r.status).toBe(201);
    approved = r.body;
    const after = await balances();
    for (const [currency, total] of Object.entries(approved.totals)) {
      const lines = approved.lines.filter((l) => l.currency === currency);
      expect(lines.reduce((s, l) => s + toMicros(l.amount), 0n)).toBe(toMicros(total.amount));
      expect(available(before, currency) - available(after, currency)).toBe(toMicros(total.amount));
      const [paid] = await admin.sql`
        select coalesce(sum(affiliate_payout), 0)::text as sum from ledger_entries where type = 'payout' and affiliate_currency = ${currency}`;
      expect(-toMicros(paid?.sum as string)).toBe(toMicros(total.amount));
    }
    const again = await admin.call<Run>("POST", "/v1/payout-runs", {
      period_end: periodEnd,
      idempotency_key: "run-0001-api",
    });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(approved.id);
    const ready = await admin.sql`select payload from bus_outbox where subject = 'partners.statement_ready'`;
    expect(ready.map((r) => r.payload.affiliate_id).sort()).toEqual(Object.values(who).sort());
    const audit = await admin.sql`select action from audit_log where resource = 'payout_runs'`;
    expect(audit.map((a) => a.action)).toEqual(["approve"]);
  });

  test("export files parse with a CSV library and match the run, line by line", async () => {
    const file = async (format: string) => {
      const r = await fetchText(`/v1/payout-runs/${approved.id}/export?format=${format}`);
      expect(r.status).toBe(200);
      return parse(r.text, { columns: true }) as Record<string, string>[];
    };
    const pp = await file("paypal");
    const ppLines = approved.lines.filter((l) => l.method === "paypal");
    expect(pp.map((r) => [r["Reference ID"], r.Amount, r.Currency]).sort()).toEqual(
      ppLines.map((l) => [`RT-${l.id}`, l.amount, l.currency]).sort(),
    );
    expect(pp.map((r) => r.Recipient).sort()).toEqual(["jp@aff.example", "pp@aff.example"]);
    const sepa = await file("sepa");
    expect(sepa).toEqual([
      {
        beneficiary_name: "Bank Affiliate GmbH",
        iban: "DE89370400440532013000",
        bic: "COBADEFFXXX",
        amount: "1000.01",
        currency: "EUR",
        end_to_end_id: `RT-${approved.lines.find((l) => l.method === "bank_transfer")?.id}`,
        remittance_information: expect.stringContaining(periodEnd.slice(0, 10)),
      },
    ]);
    const tip = await file("tipalti");
    expect(tip.map((r) => [r["Payee ID"], r.Amount, r.Currency])).toEqual([["PAYEE-77-ABC", "75.10", "USD"]]);
    // every line of the run is in exactly one file
    expect(pp.length + sepa.length + tip.length).toBe(approved.lines.length);
  });

  test("the result import marks each line; a failed line returns to the balance; all or nothing", async () => {
    const ref = (m: string, c?: string) =>
      `RT-${approved.lines.find((l) => l.method === m && (!c || l.currency === c))?.id}`;
    const bad = await admin.call(
      "POST",
      `/v1/payout-runs/${approved.id}/results`,
      "Reference ID,Status\nRT-999999,Success\n",
      {
        contentType: "text/csv",
      },
    );
    expect(bad.status).toBe(400);
    const result = [
      "Reference ID,Status,Transaction ID,Reason",
      `${ref("paypal", "EUR")},Success,PP-TX-1,`,
      `${ref("paypal", "JPY")},Returned,,receiver has no account`,
      `${ref("bank_transfer")},completed,SEPA-1,`,
      // not settled yet (PayPal pays an unclaimed item later or returns it): the line stays pending
      `${ref("tipalti")},Unclaimed,,`,
    ].join("\n");
    const before = await balances();
    // the PARTNERS relay is woken once the import commits (not left to its poll)
    const heard: string[] = [];
    const listening = await admin.sql.listen(OUTBOX_CHANNEL, (p) => heard.push(p));
    const r = await admin.call("POST", `/v1/payout-runs/${approved.id}/results`, result, {
      contentType: "text/csv",
    });
    expect(r).toEqual({ status: 200, body: { paid: 2, failed: 1, unchanged: 0, still_pending: 1 } });
    for (let i = 0; i < 100 && !heard.includes("partners"); i++) await Bun.sleep(50);
    expect(heard).toContain("partners");
    await listening.unlisten();
    const lines = (await admin.call<Run>("GET", `/v1/payout-runs/${approved.id}`)).body.lines;
    expect(lines.map((l) => [l.method, l.currency, l.status]).sort()).toEqual([
      ["bank_transfer", "EUR", "paid"],
      ["paypal", "EUR", "paid"],
      ["paypal", "JPY", "failed"],
      ["tipalti", "USD", "pending"],
    ]);
    // the provider's payment reference is shown as given (it is no secret); the account is masked
    const byMethod = (m: string, c: string) => lines.find((l) => l.method === m && l.currency === c);
    expect(byMethod("paypal", "EUR")).toMatchObject({
      provider_reference: "PP-TX-1",
      account_reference_masked: expect.stringMatching(/^\*+mple$/),
    });
    expect(byMethod("bank_transfer", "EUR")?.provider_reference).toBe("SEPA-1");
    expect(byMethod("paypal", "JPY")).toMatchObject({
      provider_reference: null,
      failure_reason: "receiver has no account",
    });
    const after = await balances();
    expect(available(after, "JPY") - available(before, "JPY")).toBe(toMicros("9999"));
    expect(available(after, "EUR")).toBe(available(before, "EUR"));
    const again = await admin.call("POST", `/v1/payout-runs/${approved.id}/results`, result, {
      contentType: "text/csv",
    });
    expect(again.body).toEqual({ paid: 0, failed: 0, unchanged: 3, still_pending: 1 });
    const [{ n } = { n: 0 }] =
      await admin.sql`select count(*)::int as n from bus_outbox where subject like 'partners.payout%'`;
    expect(n).toBe(3);
    const flip = await admin.call(
      "POST",
      `/v1/payout-runs/${approved.id}/results`,
      `reference,status\n${ref("paypal", "JPY")},paid\n`,
      {
        contentType: "text/csv",
      },
    );
    expect(flip.status).toBe(409);
    // only pending lines are exported again
    const tipOnly = await fetchText(`/v1/payout-runs/${approved.id}/export?format=paypal`);
    expect(parse(tipOnly.text, { columns: true })).toEqual([]);
  });

  test("affiliates see their own payout lines only, and nothing of runs, previews or exports", async () => {
    const key = await admin.affiliateKey(who.paypal as string);
    const own = await admin.call<{ data: Line[] }>("GET", "/v1/payout-lines", undefined, { key });
    expect(own.body.data.map((l) => l.affiliate_id)).toEqual([who.paypal as string]);
    expect(own.body.data[0]).toMatchObject({ status: "paid", provider_reference: "PP-TX-1" });
    expect(
      (await admin.call("GET", `/v1/payout-lines?affiliate_id=${who.bank}`, undefined, { key })).status,
    ).toBe(404);
    expect((await admin.call("GET", `/v1/payout-runs/${approved.id}`, undefined, { key })).status).toBe(403);
    expect(
      (await admin.call("POST", "/v1/payout-runs/preview", { period_end: periodEnd }, { key })).status,
    ).toBe(403);
    expect((await fetchText(`/v1/payout-runs/${approved.id}/export?format=paypal`, key)).status).toBe(403);
  });
});

const fetchText = (path: string, key?: string) => admin.text(path, key ? { key } : {});

describe("payout settings: the cycle's time zone", () => {
  test("set and read back; an unknown zone is refused naming the field", async () => {
    const id = who.paypal as string;
    const put = await admin.call<{ time_zone: string }>("PUT", `/v1/affiliates/${id}/payout-settings`, {
      cycle: "custom",
      cycle_days: 1,
      time_zone: "Europe/Malta",
    });
    expect(put.status).toBe(200);
    expect(put.body.time_zone).toBe("Europe/Malta");
    const bad = await admin.call<{ error: { field: string } }>(
      "PUT",
      `/v1/affiliates/${id}/payout-settings`,
      {
        cycle: "monthly",
        time_zone: "Mars/Olympus_Mons",
      },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe("time_zone");
    // a later PUT without time_zone keeps it
    await admin.call("PUT", `/v1/affiliates/${id}/payout-settings`, { cycle: "custom", cycle_days: 1 });
    const read = await admin.call<{ time_zone: string }>("GET", `/v1/affiliates/${id}/payout-settings`);
    expect(read.body.time_zone).toBe("Europe/Malta");
  });
});
