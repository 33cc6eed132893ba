import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { PartnerEvent } from "@roundtrip/contracts";
import { createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import { planPartnerDeliveries } from "./plan-partner.ts";

let db: TestDatabase;
let sql: Sql;

beforeAll(async () => {
  db = await createTestDatabase("plan-partner");
  sql = db.sql;
});
afterAll(async () => {
  await db?.drop();
});

async function affiliate(): Promise<string> {
  const [a] = await sql`insert into affiliates (name) values ('A') returning id`;
  return a?.id;
}

async function template(affiliateId: string, over: Record<string, unknown>): Promise<string> {
  const row: Record<string, unknown> = {
    affiliate_id: affiliateId,
    url_template: "https://aff.example/pb?cid={click_id}",
    ...over,
  };
  const [t] = await sql`insert into affiliate_postbacks ${sql(row as Record<string, never>)} returning id`;
  return t?.id;
}

const paid = (affiliateId: string, line = "7"): PartnerEvent => ({
  id: `payout.paid:${line}`,
  type: "payout.paid",
  affiliate_id: affiliateId,
  occurred_at: "2026-12-01T10:00:00.000Z",
  data: {
    payout_line_id: line,
    amount: "120.55",
    currency: "EUR",
    method: "paypal",
    provider_reference: "PP-1",
  },
});

const rows = (affiliateId: string) =>
  sql`select event_id, template_id, method, url, body, content_type, status, conversion_id from deliveries
      where affiliate_id = ${affiliateId} order by id`;

describe("partner events become deliveries on the signed path", () => {
  test("only templates that list the event; POST gets the standard body, GET the macros; once per (event, template)", async () => {
    const a = await affiliate();
    await template(a, {}); // a conversion template: hears nothing of payouts
    const post = await template(a, {
      method: "POST",
      url_template: "https://aff.example/hooks",
      partner_events: sql.array(["payout.paid", "payout.failed"]),
    });
    const get = await template(a, {
      url_template:
        "https://aff.example/pay?aff={affiliate_id}&amt={payout}&cur={currency}&st={status}&cid={click_id}",
      partner_events: sql.array(["payout.paid"]),
    });
    const other = await affiliate();
    await template(other, { partner_events: sql.array(["payout.paid"]) });

    await sql.begin((tx) => planPartnerDeliveries(tx, paid(a)));
    const planned = await rows(a);
    expect(planned.map((r) => [r.template_id, r.method, r.status, r.conversion_id])).toEqual([
      [post, "POST", "pending", null],
      [get, "GET", "pending", null],
    ]);
    expect(JSON.parse(planned[0]?.body)).toEqual({
      type: "payout.paid",
      timestamp: "2026-12-01T10:00:00.000Z",
      data: { ...paid(a).data, affiliate_id: a },
    });
    expect(planned[0]?.content_type).toBe("application/json");
    expect(planned[1]?.url).toBe(
      `https://aff.example/pay?aff=${a}&amt=120.55&cur=EUR&st=payout.paid&cid={click_id}`,
    );
    // a redelivered or replayed event plans nothing new
    expect(await sql.begin((tx) => planPartnerDeliveries(tx, paid(a)))).toBe(0);
    expect(await rows(a)).toHaveLength(2);
    expect(await rows(other)).toHaveLength(0);
    // statement.ready was not asked for
    const ready: PartnerEvent = {
      ...paid(a),
      id: "statement.ready:1",
      type: "statement.ready",
      data: { statement_id: "1" },
    };
    expect(await sql.begin((tx) => planPartnerDeliveries(tx, ready))).toBe(0);
  });

  test("an endpoint the sender disabled still gets its row, dead-lettered for a replay", async () => {
    const a = await affiliate();
    await template(a, {
      method: "POST",
      url_template: "https://gone.example/",
      partner_events: sql.array(["payout.failed"]),
      status: "disabled",
      disabled_reason: "gone",
    });
    await sql.begin((tx) =>
      planPartnerDeliveries(tx, { ...paid(a), id: "payout.failed:9", type: "payout.failed" }),
    );
    expect((await rows(a)).map((r) => r.status)).toEqual(["dead"]);
  });

  test("operator webhooks subscribed to the event get a signed POST each, naming no affiliate; once per (event, webhook)", async () => {
    const a = await affiliate();
    const webhook = async (url: string, events: string[], over: Record<string, unknown> = {}) => {
      const [w] = await sql`
        insert into operator_webhooks ${sql({ name: "ops", url, events: sql.array(events), ...over } as unknown as Record<string, never>)}
        returning id`;
      return w?.id as string;
    };
    const finance = await webhook("https://ops.example/finance", ["payout.paid", "payout.failed"]);
    await webhook("https://ops.example/statements", ["statement.ready"]);
    const gone = await webhook("https://ops.example/old", ["payout.paid"], {
      status: "disabled",
      disabled_reason: "gone",
    });
    await webhook("https://ops.example/paused", ["payout.paid"], { status: "disabled" }); // an operator paused it
    const event = { ...paid(a), id: "payout.paid:ops-1" };
    expect(await sql.begin((tx) => planPartnerDeliveries(tx, event))).toBe(2);
    const planned = await sql`
      select webhook_id, template_id, affiliate_id, method, url, body, content_type, status from deliveries
      where event_id = ${event.id} order by id`;
    expect(planned.map((r) => [r.webhook_id, r.template_id, r.affiliate_id, r.method, r.status])).toEqual([
      [finance, null, null, "POST", "pending"],
      [gone, null, null, "POST", "dead"],
    ]);
    expect(JSON.parse(planned[0]?.body)).toEqual({
      type: "payout.paid",
      timestamp: event.occurred_at,
      data: { ...event.data, affiliate_id: a },
    });
    expect(planned[0]?.content_type).toBe("application/json");
    expect(await sql.begin((tx) => planPartnerDeliveries(tx, event))).toBe(0);
  });
});
