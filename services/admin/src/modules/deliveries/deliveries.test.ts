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

  test("kind=forward lists ad-platform forwards (skipped ones with their reason), searchable by the platform's event id; affiliates never see them", async () => {
    const [dest] = await admin.sql`
      insert into conversion_destinations (brand_id, offer_id, platform, name, platform_account, access_token, token_hint, events)
      values (${p.brand}, ${p.offer}, 'meta', 'Meta dataset', '1234567890123', 'EAAB-secret-token', '…oken', '{"ftd": {"name": "Purchase"}}')
      returning id`;
    const forward = async (status: string, eventId: string, error: string | null) => {
      const [d] = await admin.sql`
        insert into deliveries (conversion_id, change_seq, destination_id, method, url, status, attempts, cycle_attempts,
          platform_event_id, last_error)
        values (${++n}, 1, ${dest?.id}, 'POST', 'https://graph.facebook.com/v24.0/1234567890123/events', ${status}, 0, 0,
          ${eventId}, ${error})
        returning id`;
      return d?.id as string;
    };
    const reason = "too old for meta: the event is more than 7 days old";
    const skipped = await forward("skipped", "tx-skipped-42", reason);
    const sent = await forward("delivered", "tx-sent-43", null);
    const postback = await delivery(await template(), "delivered");
    type List = {
      data: { id: string; destination_id: string | null; status: string; last_error: string | null }[];
    };
    const forwards = await admin.call<List>("GET", "/v1/deliveries?kind=forward&limit=500");
    const ids = forwards.body.data.map((d) => d.id);
    expect(ids).toContain(skipped);
    expect(ids).toContain(sent);
    expect(ids).not.toContain(postback);
    expect(forwards.body.data.every((d) => d.destination_id === dest?.id)).toBe(true);
    const postbacks = await admin.call<List>("GET", "/v1/deliveries?kind=postback&limit=500");
    expect(postbacks.body.data.map((d) => d.id)).toContain(postback);
    expect(postbacks.body.data.some((d) => d.destination_id)).toBe(false);
    const skippedOnly = await admin.call<List>("GET", "/v1/deliveries?kind=forward&status=skipped");
    expect(skippedOnly.body.data.map((d) => [d.id, d.status, d.last_error])).toEqual([
      [skipped, "skipped", reason],
    ]);
    const found = await admin.call<List>("GET", "/v1/deliveries?q=tx-skipped");
    expect(found.body.data.map((d) => d.id)).toEqual([skipped]);
    expect((await admin.call("GET", "/v1/deliveries?kind=everything")).status).toBe(400);
    const key = await admin.affiliateKey(p.affiliate);
    const theirs = await admin.call<List>("GET", "/v1/deliveries?kind=forward", undefined, { key });
    expect(theirs.body.data).toEqual([]);
    // The token is never in what the list answers.
    expect(JSON.stringify(forwards.body)).not.toContain("EAAB-secret-token");
  });
});
