import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type TestAdmin, testAdmin } from "../../testing/money-app.ts";

let admin: TestAdmin;
let p: Awaited<ReturnType<TestAdmin["program"]>>;
let other: string;

beforeAll(async () => {
  admin = await testAdmin("payment-details");
  p = await admin.program();
  other = (
    await admin.call<{ id: string }>("POST", "/v1/affiliates", { name: "Other", payout_currency: "EUR" })
  ).body.id;
});
afterAll(async () => {
  await admin?.close();
});

const IBAN = "DE89370400440532013000";

describe("payment details: write-only, masked everywhere, audited", () => {
  test("the account reference goes in and comes back only masked (answer, read, audit log)", async () => {
    const put = await admin.call("PUT", `/v1/affiliates/${p.affiliate}/payment-details`, {
      method: "bank_transfer",
      account_reference: IBAN,
      account_holder: "Affiliate GmbH",
      bic: "COBADEFFXXX",
      vat_number: "DE123456789",
      vat_rate: "19",
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      method: "bank_transfer",
      account_reference_masked: "****3000",
      vat_rate: "19.00",
    });
    const get = await admin.call("GET", `/v1/affiliates/${p.affiliate}/payment-details`);
    expect(get.body).toMatchObject({ account_reference_masked: "****3000" });
    await admin.call("PUT", `/v1/affiliates/${p.affiliate}/payment-details`, {
      method: "paypal",
      account_reference: "payouts@affiliate.example",
    });
    const audit =
      await admin.sql`select action, before, after from audit_log where resource = 'payment_details' order by id`;
    expect(audit.map((a) => a.action)).toEqual(["create", "update"]);
    const everything = JSON.stringify([put.body, get.body, audit]);
    expect(everything).not.toContain(IBAN);
    expect(everything).not.toContain("payouts@affiliate.example");
    expect(JSON.stringify(audit)).toContain("****3000");
  });

  test("none set yet is an empty state, not a missing resource: 200 with every field null; an unknown affiliate is a 404", async () => {
    const fresh = (
      await admin.call<{ id: string }>("POST", "/v1/affiliates", {
        name: "No details yet",
        payout_currency: "EUR",
      })
    ).body.id;
    const none = await admin.call("GET", `/v1/affiliates/${fresh}/payment-details`);
    expect(none).toEqual({
      status: 200,
      body: {
        affiliate_id: fresh,
        method: null,
        account_reference_masked: null,
        account_holder: null,
        bic: null,
        vat_number: null,
        vat_rate: null,
        updated_at: null,
      },
    });
    // The affiliate reads its own empty state too; an affiliate that does not exist is a 404.
    const key = await admin.affiliateKey(fresh);
    const own = await admin.call("GET", `/v1/affiliates/${fresh}/payment-details`, undefined, { key });
    expect(own).toMatchObject({ status: 200, body: { affiliate_id: fresh, method: null } });
    expect((await admin.call("GET", "/v1/affiliates/987654321/payment-details")).status).toBe(404);
    // Once set, the same read answers them.
    await admin.call("PUT", `/v1/affiliates/${fresh}/payment-details`, {
      method: "paypal",
      account_reference: "fresh@affiliate.example",
    });
    const set = await admin.call("GET", `/v1/affiliates/${fresh}/payment-details`);
    expect(set.body).toMatchObject({
      method: "paypal",
      account_reference_masked: expect.stringMatching(/^\*{4}/),
    });
  });

  test("refused with the field named: an unknown method, an extra field, a bad BIC", async () => {
    const bad = async (body: Record<string, unknown>) =>
      (await admin.call("PUT", `/v1/affiliates/${p.affiliate}/payment-details`, body)).status;
    expect(await bad({ method: "cash", account_reference: "x123" })).toBe(400);
    expect(await bad({ method: "paypal", account_reference: "a@b.example", account_number: "1" })).toBe(400);
    expect(await bad({ method: "bank_transfer", account_reference: IBAN, bic: "nope" })).toBe(400);
  });

  test("an affiliate reads its own (masked), never another's, and cannot write any", async () => {
    await admin.call("PUT", `/v1/affiliates/${other}/payment-details`, {
      method: "tipalti",
      account_reference: "PAYEE-0042-XYZ",
    });
    const key = await admin.affiliateKey(p.affiliate);
    const own = await admin.call("GET", `/v1/affiliates/${p.affiliate}/payment-details`, undefined, { key });
    expect(own).toMatchObject({
      status: 200,
      body: { account_reference_masked: expect.stringMatching(/^\*\*\*\*/) },
    });
    const theirs = await admin.call("GET", `/v1/affiliates/${other}/payment-details`, undefined, { key });
    expect(theirs.status).toBe(404);
    expect(JSON.stringify(theirs.body)).not.toContain("tipalti");
    const settings = await admin.call("GET", `/v1/affiliates/${other}/payout-settings`, undefined, { key });
    expect(settings.status).toBe(404);
    const write = await admin.call(
      "PUT",
      `/v1/affiliates/${p.affiliate}/payment-details`,
      { method: "paypal", account_reference: "me@evil.example" },
      { key },
    );
    expect(write.status).toBe(403);
  });
});

describe("payout settings", () => {
  test("cycles, holds and the sub-affiliate tree; a parent loop is refused", async () => {
    const set = await admin.call("PUT", `/v1/affiliates/${other}/payout-settings`, {
      cycle: "custom",
      cycle_days: 10,
      parent_affiliate_id: p.affiliate,
      negative_carryover: "reset",
    });
    expect(set).toMatchObject({
      status: 200,
      body: { cycle: "custom", cycle_days: 10, parent_affiliate_id: p.affiliate },
    });
    const loop = await admin.call("PUT", `/v1/affiliates/${p.affiliate}/payout-settings`, {
      cycle: "monthly",
      parent_affiliate_id: other,
    });
    expect(loop.status).toBe(400);
    expect(JSON.stringify(loop.body)).toContain("parent_affiliate_id");
    const noDays = await admin.call("PUT", `/v1/affiliates/${p.affiliate}/payout-settings`, {
      cycle: "custom",
    });
    expect(noDays.status).toBe(400);
    const min = await admin.call("PUT", "/v1/payout-minimums/JPY", { minimum: "100.5" });
    expect(min.status).toBe(400);
    expect((await admin.call("PUT", "/v1/payout-minimums/EUR", { minimum: "50" })).body).toEqual({
      currency: "EUR",
      minimum: "50.000000",
    });
  });
});
