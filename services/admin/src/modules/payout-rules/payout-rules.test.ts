import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type TestAdmin, testAdmin } from "../../testing/money-app.ts";

let admin: TestAdmin;
let p: Awaited<ReturnType<TestAdmin["program"]>>;

beforeAll(async () => {
  admin = await testAdmin("payoutrules");
  p = await admin.program();
});
afterAll(async () => {
  await admin?.close();
});

const create = (body: Record<string, unknown>) =>
  admin.call<Record<string, unknown>>("POST", "/v1/payout-rules", {
    offer_id: p.offer,
    event: "ftd",
    currency: "EUR",
    ...body,
  });

describe("payout rules through admin", () => {
  test("CPA, RevShare and hybrid rules with tiers, caps, holds and advertiser payout bounds", async () => {
    expect((await create({ model: "cpa", payout: "25", revenue: "40" })).status).toBe(201);
    expect((await create({ model: "revshare", payout_percent: "30", revenue_percent: "50" })).status).toBe(
      201,
    );
    const hybrid = await create({
      model: "hybrid",
      affiliate_id: p.affiliate,
      payout: "10",
      payout_percent: "20",
      tiers: [{ from: 11, payout: "15", payout_percent: "25" }],
      tier_period: "month",
      cap_daily: 50,
      cap_monthly: 1000,
      cap_scope: "offer",
      cap_action: "reject",
      advertiser_payout: "accept",
      advertiser_payout_min: "5",
      advertiser_payout_max: "100",
      hold_days: 14,
    });
    expect(hybrid.status).toBe(201);
    expect(hybrid.body).toMatchObject({
      model: "hybrid",
      payout: "10.000000",
      payout_percent: "20.000000",
      tiers: [{ from: 11, payout: "15", payout_percent: "25" }],
      cap_action: "reject",
      hold_days: 14,
      status: "active",
    });
  });

  test.each([
    [{ model: "cpa", payout: "25", payout_percent: "10" }, "payout_percent"],
    [{ model: "revshare", payout: "25", payout_percent: "10" }, "payout"],
    [{ model: "revshare" }, "payout_percent"],
    [{ model: "hybrid", payout_percent: "10" }, "payout"],
    [
      {
        model: "cpa",
        payout: "1",
        tiers: [
          { from: 5, payout: "2" },
          { from: 5, payout: "3" },
        ],
      },
      "tiers.1.from",
    ],
    [{ model: "cpa", payout: "1", tiers: [{ from: 3, payout_percent: "2" }] }, "tiers.0.payout_percent"],
    [{ model: "cpa", payout: "1", advertiser_payout_max: "5" }, "advertiser_payout"],
    [
      {
        model: "cpa",
        payout: "1",
        advertiser_payout: "accept",
        advertiser_payout_min: "9",
        advertiser_payout_max: "5",
      },
      "advertiser_payout_min",
    ],
    [{ model: "cpa", payout: "1", event: "refund" }, "event"],
    [{ model: "cpa", payout: "-1" }, "payout"],
    [{ model: "revshare", payout_percent: "101" }, "payout_percent"],
  ])("refuses %j naming %s", async (body, field) => {
    const r = await create(body);
    expect(r.status).toBe(400);
    expect((r.body.error as { field: string }).field).toBe(field);
  });

  test("archiving: the rule stops applying, with an audit entry", async () => {
    const { body } = await create({ model: "cpa", payout: "5" });
    const r = await admin.call("POST", `/v1/payout-rules/${body.id}/archive`);
    expect(r.body).toMatchObject({ status: "archived" });
    const listed = await admin.call<{ data: { id: string }[] }>(
      "GET",
      `/v1/payout-rules?offer_id=${p.offer}&status=archived`,
    );
    expect(listed.body.data.map((x) => x.id)).toContain(body.id as string);
    const [audit] =
      await admin.sql`select action from audit_log where resource = 'payout-rules' and resource_id = ${body.id as string} and action = 'archive'`;
    expect(audit).toBeDefined();
  });

  test("affiliates cannot read rules", async () => {
    const key = await admin.affiliateKey(p.affiliate);
    expect((await admin.call("GET", "/v1/payout-rules", undefined, { key })).status).toBe(403);
  });
});
