import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type TestAdmin, testAdmin } from "../../testing/money-app.ts";

let admin: TestAdmin;
let p: Awaited<ReturnType<TestAdmin["program"]>>;

beforeAll(async () => {
  admin = await testAdmin("affpostbacks");
  p = await admin.program();
});
afterAll(async () => {
  await admin?.close();
});

type ErrorBody = { error: { field: string; message: string } };
const create = (body: Record<string, unknown>) =>
  admin.call<Record<string, unknown>>("POST", "/v1/affiliate-postbacks", {
    affiliate_id: p.affiliate,
    ...body,
  });

describe("postback templates are validated when saved", () => {
  test("GET and POST templates, per offer and event", async () => {
    expect((await create({ url_template: "https://aff.example/pb?cid={click_id}&p={payout}" })).status).toBe(
      201,
    );
    const post = await create({
      offer_id: p.offer,
      event: "ftd",
      method: "POST",
      url_template: "https://aff.example/hook",
      body_template: '{"cid":"{click_id}","payout":"{payout}","cur":"{currency}"}',
    });
    expect(post.status).toBe(201);
    expect(post.body).toMatchObject({
      method: "POST",
      content_type: "application/json",
      offer_id: p.offer,
      event: "ftd",
    });
    const form = await create({
      method: "POST",
      url_template: "https://aff.example/hook",
      content_type: "application/x-www-form-urlencoded",
      body_template: "cid={click_id}&st={status}",
    });
    expect(form.status).toBe(201);
  });

  test.each([
    [
      { url_template: "https://aff.example/pb?cid={clickid}" },
      "url_template",
      "unknown macro {clickid} in url_template",
    ],
    [
      { method: "POST", url_template: "https://aff.example/", body_template: '{"x":"{nope}"}' },
      "body_template",
      "unknown macro {nope} in body_template",
    ],
    [
      { method: "POST", url_template: "https://aff.example/", body_template: '{"x":{payout}}' },
      "body_template",
      "not valid JSON",
    ],
    [
      { url_template: "https://aff.example/", body_template: "x={txid}" },
      "body_template",
      "body_template needs method POST",
    ],
    [{ url_template: "ftp://aff.example/" }, "url_template", ""],
  ])("refuses %j", async (body, field, message) => {
    const r = await create(body);
    expect(r.status).toBe(400);
    expect((r.body as unknown as ErrorBody).error.field).toBe(field);
    expect((r.body as unknown as ErrorBody).error.message).toContain(message);
  });

  test("PATCH re-validates, and enabling an endpoint the sender disabled clears its failure state", async () => {
    const { body } = await create({ url_template: "https://aff.example/pb?cid={click_id}" });
    await admin.sql`
      update affiliate_postbacks set status = 'disabled', disabled_reason = 'gone', disabled_at = now(),
        failing_since = now() - interval '1 day' where id = ${body.id as string}`;
    expect(
      (
        await admin.call("PATCH", `/v1/affiliate-postbacks/${body.id}`, {
          url_template: "https://aff.example/?x={bad}",
        })
      ).status,
    ).toBe(400);
    const r = await admin.call("PATCH", `/v1/affiliate-postbacks/${body.id}`, { status: "active" });
    expect(r.body).toMatchObject({ status: "active", disabled_reason: null, failing_since: null });
    const off = await admin.call("PATCH", `/v1/affiliate-postbacks/${body.id}`, { status: "disabled" });
    expect(off.body).toMatchObject({ status: "disabled", disabled_reason: "operator" });
  });
});

describe("signing secrets are write-only", () => {
  test("a generated secret is shown once; listing never returns it; a given one is not echoed", async () => {
    const created = await admin.call<{ id: string; secret?: string; hint: string }>(
      "POST",
      "/v1/webhook-secrets",
      { affiliate_id: p.affiliate },
    );
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.body.hint).toBe(`${created.body.secret?.slice(0, 10)}…`);
    const given = `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")}`;
    const second = await admin.call<Record<string, unknown>>("POST", "/v1/webhook-secrets", {
      affiliate_id: p.affiliate,
      secret: given,
    });
    expect(second.body.secret).toBeUndefined();
    const listed = await admin.call<{ data: Record<string, unknown>[] }>(
      "GET",
      `/v1/webhook-secrets?affiliate_id=${p.affiliate}`,
    );
    expect(listed.body.data).toHaveLength(2);
    expect(JSON.stringify(listed.body)).not.toContain(given.slice(6));
    expect(JSON.stringify(listed.body)).not.toContain((created.body.secret as string).slice(6));
    const [audit] =
      await admin.sql`select after from audit_log where resource = 'webhook-secrets' and resource_id = ${created.body.id}`;
    expect(JSON.stringify(audit?.after)).not.toContain((created.body.secret as string).slice(6));
  });

  test("rotation: the old secret is expired at a time", async () => {
    const { body } = await admin.call<{ id: string }>("POST", "/v1/webhook-secrets", {
      affiliate_id: p.affiliate,
    });
    const at = new Date(Date.now() + 86_400_000).toISOString();
    const r = await admin.call<{ expires_at: string }>("POST", `/v1/webhook-secrets/${body.id}/expire`, {
      at,
    });
    expect(new Date(r.body.expires_at).toISOString()).toBe(at);
  });

  test("a malformed secret is refused", async () => {
    const r = await admin.call("POST", "/v1/webhook-secrets", {
      affiliate_id: p.affiliate,
      secret: "hunter2",
    });
    expect(r.status).toBe(400);
  });
});
