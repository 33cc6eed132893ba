import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type TestAdmin, testAdmin } from "../../testing/money-app.ts";

let admin: TestAdmin;
let affiliateKey: string;
let affiliate: string;

beforeAll(async () => {
  admin = await testAdmin("operator-webhooks");
  affiliate = (await admin.program()).affiliate;
  affiliateKey = await admin.affiliateKey(affiliate);
});
afterAll(async () => {
  await admin?.close();
});

type Webhook = { id: string; name: string; url: string; events: string[]; status: string; secret?: string };

describe("operator webhooks", () => {
  test("created with a signing secret shown once; listed, changed and paused by staff; audited", async () => {
    const created = await admin.call<Webhook>("POST", "/v1/operator-webhooks", {
      name: "Finance ERP",
      url: "https://ops.example/payouts",
      events: ["payout.paid", "payout.failed"],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "Finance ERP", events: ["payout.paid", "payout.failed"] });
    expect(created.body.secret).toMatch(/^whsec_/);
    const [stored] = await admin.sql`
      select secret from affiliate_webhook_secrets where webhook_id = ${created.body.id}`;
    expect(stored?.secret).toBe(created.body.secret);
    const read = await admin.call<Webhook>("GET", `/v1/operator-webhooks/${created.body.id}`);
    expect(read.body).not.toHaveProperty("secret");
    const list = await admin.call<{ data: Webhook[] }>("GET", "/v1/operator-webhooks");
    expect(list.body.data.map((w) => w.id)).toContain(created.body.id);

    // a rotation: another secret for the webhook through /v1/webhook-secrets
    const rotated = await admin.call<{ webhook_id: string; affiliate_id: null; secret: string }>(
      "POST",
      "/v1/webhook-secrets",
      { webhook_id: created.body.id },
    );
    expect(rotated.status).toBe(201);
    expect(rotated.body).toMatchObject({ webhook_id: created.body.id, affiliate_id: null });
    const both = await admin.call("POST", "/v1/webhook-secrets", {
      webhook_id: created.body.id,
      affiliate_id: affiliate,
    });
    expect(both.status).toBe(400);
    const secrets = await admin.call<{ data: { webhook_id: string }[] }>(
      "GET",
      `/v1/webhook-secrets?webhook_id=${created.body.id}`,
    );
    expect(secrets.body.data).toHaveLength(2);
    expect(JSON.stringify(secrets.body)).not.toContain(created.body.secret as string);

    const paused = await admin.call<Webhook & { disabled_reason: string }>(
      "PATCH",
      `/v1/operator-webhooks/${created.body.id}`,
      { status: "disabled", events: ["statement.ready"] },
    );
    expect(paused.body).toMatchObject({
      status: "disabled",
      disabled_reason: "operator",
      events: ["statement.ready"],
    });
    const bad = await admin.call<{ error: { field: string } }>("POST", "/v1/operator-webhooks", {
      name: "x",
      url: "ftp://ops.example/",
      events: ["payout.paid"],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe("url");
    const unknownEvent = await admin.call("POST", "/v1/operator-webhooks", {
      name: "x",
      url: "https://ops.example/",
      events: ["conversion.approved"],
    });
    expect(unknownEvent.status).toBe(400);
    const audit = await admin.sql`
      select action from audit_log where resource = 'operator-webhooks' and resource_id = ${created.body.id} order by id`;
    expect(audit.map((a) => a.action)).toEqual(["create", "update"]);
  });

  test("affiliates neither read the operator's webhooks and secrets nor see their deliveries; staff replay them", async () => {
    const w = await admin.call<Webhook>("POST", "/v1/operator-webhooks", {
      name: "Ops",
      url: "https://ops.example/all",
      events: ["payout.paid"],
    });
    const [d] = await admin.sql`
      insert into deliveries (event_id, webhook_id, method, url, body, content_type, status, dead_at)
      values (${`payout.paid:${affiliate}`}, ${w.body.id}, 'POST', 'https://ops.example/all',
              ${JSON.stringify({ type: "payout.paid", data: { affiliate_id: affiliate } })}, 'application/json', 'dead', now())
      returning id::text`;
    const as = { key: affiliateKey };
    expect((await admin.call("GET", "/v1/operator-webhooks", undefined, as)).status).toBe(403);
    expect((await admin.call("GET", `/v1/operator-webhooks/${w.body.id}`, undefined, as)).status).toBe(403);
    const mine = await admin.call<{ data: unknown[] }>("GET", "/v1/webhook-secrets", undefined, as);
    expect(mine.body.data).toEqual([]);
    const deliveries = await admin.call<{ data: { id: string }[] }>("GET", "/v1/deliveries", undefined, as);
    expect(deliveries.body.data.map((x) => x.id)).not.toContain(d?.id);
    expect((await admin.call("GET", `/v1/deliveries/${d?.id}`, undefined, as)).status).toBe(404);

    const staff = await admin.call<{ data: { id: string; webhook_id: string; affiliate_id: null }[] }>(
      "GET",
      `/v1/deliveries?webhook_id=${w.body.id}`,
    );
    expect(staff.body.data).toMatchObject([{ id: d?.id, webhook_id: w.body.id, affiliate_id: null }]);
    const replayed = await admin.call("POST", `/v1/deliveries/${d?.id}/replay`);
    expect(replayed.status).toBe(200);
    const [after] = await admin.sql`select status, replays from deliveries where id = ${d?.id}`;
    expect({ ...after }).toEqual({ status: "pending", replays: 1 });
    // a paused webhook's dead deliveries wait until it is enabled again
    await admin.sql`update deliveries set status = 'dead' where id = ${d?.id}`;
    await admin.call("PATCH", `/v1/operator-webhooks/${w.body.id}`, { status: "disabled" });
    const refused = await admin.call<{ error: { message: string } }>(
      "POST",
      `/v1/deliveries/${d?.id}/replay`,
    );
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain("operator-webhooks");
    const bulk = await admin.call<{ replayed: number; skipped_disabled: number }>(
      "POST",
      "/v1/deliveries/replay",
      {
        webhook_id: w.body.id,
      },
    );
    expect(bulk.body).toEqual({ replayed: 0, skipped_disabled: 1 });
  });
});
