import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type TestAdmin, testAdmin } from "../../testing/money-app.ts";

let admin: TestAdmin;
let p: Awaited<ReturnType<TestAdmin["program"]>>;

beforeAll(async () => {
  admin = await testAdmin("deliveries");
  p = await admin.program();
});
afterAll(async () => {
  await admin?.close();
});

async function template(affiliate = p.affiliate): Promise<string> {
  const [t] = await admin.sql`
    insert into affiliate_postbacks (affiliate_id, url_template) values (${affiliate}, 'https://aff.example/pb?cid={click_id}&token=abc')
    returning id`;
  return t?.id;
}

let n = 0;
async function delivery(templateId: string, status: string, affiliate = p.affiliate): Promise<string> {
  const [d] = await admin.sql`
    insert into deliveries (conversion_id, change_seq, template_id, affiliate_id, method, url, status, attempts, cycle_attempts)
    values (${++n}, 1, ${templateId}, ${affiliate}, 'GET', 'https://aff.example/pb?cid=c1&token=abc', ${status}, 8, 8)
    returning id`;
  return d?.id;
}

describe("deliveries and replays", () => {
  test("a dead-lettered delivery is replayed with a fresh retry cycle and the same id", async () => {
    const id = await delivery(await template(), "dead");
    const r = await admin.call("POST", `/v1/deliveries/${id}/replay`);
    expect(r).toEqual({ status: 200, body: { id, status: "pending" } });
    const [row] =
      await admin.sql`select status, cycle_attempts, attempts, replays from deliveries where id = ${id}`;
    expect(row).toEqual({ status: "pending", cycle_attempts: 0, attempts: 8, replays: 1 });
    const [audit] =
      await admin.sql`select action from audit_log where resource = 'deliveries' and resource_id = ${id}`;
    expect(audit?.action).toBe("replay");
  });

  test("only dead or failed deliveries replay; a disabled endpoint must be enabled first", async () => {
    const t = await template();
    expect((await admin.call("POST", `/v1/deliveries/${await delivery(t, "delivered")}/replay`)).status).toBe(
      409,
    );
    expect((await admin.call("POST", `/v1/deliveries/${await delivery(t, "pending")}/replay`)).status).toBe(
      409,
    );
    expect((await admin.call("POST", "/v1/deliveries/999999/replay")).status).toBe(404);
    const gone = await template();
    await admin.sql`update affiliate_postbacks set status = 'disabled', disabled_reason = 'gone' where id = ${gone}`;
    const r = await admin.call<{ error: { code: string; message: string } }>(
      "POST",
      `/v1/deliveries/${await delivery(gone, "dead")}/replay`,
    );
    expect(r.status).toBe(409);
    expect(r.body.error.message).toContain("the endpoint is disabled (gone)");
  });

  test("bulk replay of a template's dead letters after the endpoint is enabled again", async () => {
    const t = await template();
    await admin.sql`update affiliate_postbacks set status = 'disabled', disabled_reason = 'failing' where id = ${t}`;
    const ids = [await delivery(t, "dead"), await delivery(t, "dead"), await delivery(t, "failed")];
    expect((await admin.call("POST", "/v1/deliveries/replay", { template_id: t })).body).toEqual({
      replayed: 0,
      skipped_disabled: 3,
    });
    await admin.call("PATCH", `/v1/affiliate-postbacks/${t}`, { status: "active" });
    expect((await admin.call("POST", "/v1/deliveries/replay", { template_id: t })).body).toEqual({
      replayed: 3,
      skipped_disabled: 0,
    });
    const rows = await admin.sql`select status from deliveries where id in ${admin.sql(ids)}`;
    expect(rows.every((r) => r.status === "pending")).toBe(true);
  });

  test("URLs are shown with secrets masked; an affiliate sees only its own deliveries and cannot replay", async () => {
    const id = await delivery(await template(), "dead");
    const one = await admin.call<{ url: string; attempts: unknown[] }>("GET", `/v1/deliveries/${id}`);
    expect(one.body.url).toBe("https://aff.example/pb?cid=c1&token=***");
    const list = await admin.call<{ data: { url: string }[] }>("GET", "/v1/deliveries?status=dead");
    expect(list.body.data.every((d) => d.url.includes("token=***"))).toBe(true);

    const [other] = await admin.sql`insert into affiliates (name) values ('Other') returning id`;
    const otherDelivery = await delivery(await template(other?.id), "dead", other?.id);
    const key = await admin.affiliateKey(p.affiliate);
    const mine = await admin.call<{ data: { id: string }[] }>("GET", "/v1/deliveries", undefined, { key });
    expect(mine.body.data.map((d) => d.id)).not.toContain(otherDelivery);
    expect((await admin.call("GET", `/v1/deliveries/${otherDelivery}`, undefined, { key })).status).toBe(404);
    expect((await admin.call("POST", `/v1/deliveries/${id}/replay`, undefined, { key })).status).toBe(403);
  });

  test("retry now: a failing pending delivery is made due at once; not one being sent, delivered or dead", async () => {
    const t = await template();
    const id = await delivery(t, "pending");
    await admin.sql`update deliveries set next_attempt_at = now() + interval '1 hour' where id = ${id}`;
    await admin.sql`
      insert into delivery_attempts (delivery_id, attempt, started_at, url, outcome, status_code)
      values (${id}, 8, now() - interval '1 minute', 'https://aff.example/pb', 'retry', 503)`;
    const r = await admin.call("POST", `/v1/deliveries/${id}/retry`);
    expect(r).toEqual({ status: 200, body: { id, status: "pending" } });
    const [row] = await admin.sql`
      select status, attempts, cycle_attempts, next_attempt_at <= now() as due from deliveries where id = ${id}`;
    // Due now, the retry cycle untouched (the schedule still ends in a dead letter).
    expect(row).toEqual({ status: "pending", attempts: 8, cycle_attempts: 8, due: true });
    const [audited] = await admin.sql`
      select action from audit_log where resource = 'deliveries' and resource_id = ${id} order by id desc limit 1`;
    expect(audited?.action).toBe("retry-now");
    // Already due: nothing to move.
    expect((await admin.call("POST", `/v1/deliveries/${id}/retry`)).status).toBe(409);

    // Claimed by a sender (attempt 9 counted, its attempt row not finished): left alone.
    const sending = await delivery(t, "pending");
    await admin.sql`update deliveries set attempts = 9, next_attempt_at = now() + interval '30 seconds' where id = ${sending}`;
    await admin.sql`
      insert into delivery_attempts (delivery_id, attempt, started_at, url, outcome)
      values (${sending}, 9, now(), 'https://aff.example/pb', 'started')`;
    const busy = await admin.call<{ error: { code: string } }>("POST", `/v1/deliveries/${sending}/retry`);
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe("not_retryable");

    const dead = await admin.call<{ error: { message: string } }>(
      "POST",
      `/v1/deliveries/${await delivery(t, "dead")}/retry`,
    );
    expect(dead.status).toBe(409);
    expect(dead.body.error.message).toContain("replay it instead");
    expect((await admin.call("POST", `/v1/deliveries/${await delivery(t, "delivered")}/retry`)).status).toBe(
      409,
    );
    expect((await admin.call("POST", "/v1/deliveries/999999/retry")).status).toBe(404);
    const key = await admin.affiliateKey(p.affiliate);
    expect((await admin.call("POST", `/v1/deliveries/${id}/retry`, undefined, { key })).status).toBe(403);
  });
});
