import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import {
  ApiError,
  createAdminClient,
  createGatewayClient,
  isApiError,
  newIdempotencyKey,
  unwrap,
} from "@roundtrip/client";
import { createProgram, type Program } from "./support/fixtures.ts";
import { BROWSER_UA } from "./support/load.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

/**
 * packages/client against the running services (separate processes, composed as deployed): the
 * documents they serve are the ones the client was generated from, and creates, reads, errors,
 * Idempotency-Key replays, session auth and postbacks work through it with their types. This file
 * is typechecked (`bun run typecheck`): a call the document does not allow fails there.
 */
const EMAIL = "owner@client-test.example";
const PASSWORD = "correct horse battery";

let env: TestStack;
let program: Program;

beforeAll(async () => {
  env = await startTestStack("client", { ADMIN_BOOTSTRAP_EMAIL: EMAIL, ADMIN_BOOTSTRAP_PASSWORD: PASSWORD });
  program = await createProgram(env.admin, { postbackUrl: "http://127.0.0.1:9/unused" });
}, 120_000);

afterAll(async () => {
  await env?.stop();
}, 60_000);

const committed = (name: string) =>
  JSON.parse(
    readFileSync(Bun.resolveSync(`@roundtrip/client/openapi/${name}.json`, import.meta.dir), "utf8"),
  );
const slug = () => `c${crypto.randomUUID().slice(0, 8)}`;

/** Never called: each line must fail the typecheck, or `@ts-expect-error` itself fails it. */
export function rejectedByTheTypes(admin: TestStack["admin"]) {
  // @ts-expect-error currency is required by the document
  void admin.api.POST("/v1/brands", { body: { slug: "x", name: "X" } });
  // @ts-expect-error no such path
  void admin.api.GET("/v1/brand");
  // @ts-expect-error the path parameter is required
  void admin.api.GET("/v1/brands/{id}", {});
  void unwrap(admin.api.GET("/v1/brands/{id}", { params: { path: { id: "1" } } })).then((brand) => {
    // @ts-expect-error not a field of a brand
    void brand.nope;
  });
}

describe("the typed client against a running admin and gateway", () => {
  test("the running services serve the documents the client was generated from", async () => {
    const admin = await fetch(`${env.urls.admin}/openapi.json`);
    expect(admin.status).toBe(200);
    expect(await admin.json()).toEqual(committed("admin"));
    const gateway = await fetch(`${env.urls.gateway}/openapi.json`);
    expect(await gateway.json()).toEqual(committed("gateway"));
  });

  test("creates and reads resources with their types", async () => {
    const api = createAdminClient({ baseUrl: env.urls.admin, apiKey: env.adminKey });
    const s = slug();
    const created = await unwrap(
      api.POST("/v1/brands", { body: { slug: s, name: "Client Brand", currency: "EUR" } }),
    );
    const id: string = created.id;
    const read = await unwrap(api.GET("/v1/brands/{id}", { params: { path: { id } } }));
    expect(read).toMatchObject({ id, slug: s, name: "Client Brand", currency: "EUR" });
    const timezone: string = read.timezone;
    expect(timezone.length).toBeGreaterThan(0);

    const page = await unwrap(api.GET("/v1/brands", { params: { query: { limit: 200 } } }));
    expect(page.data.map((b) => b.slug)).toContain(s);

    const updated = await unwrap(
      api.PATCH("/v1/brands/{id}", { params: { path: { id } }, body: { name: "Renamed" } }),
    );
    expect(updated.name).toBe("Renamed");

    // The untyped escape hatch of the same client: a path with its query string.
    const { data } = await api.json<{ data: { id: string }[] }>(
      "GET",
      `/v1/links?offer_id=${program.offer.id}`,
    );
    expect(data.map((l) => l.id)).toEqual([program.link.id]);
  });

  test("a refusal is an ApiError with the API's code, message and field, returned or thrown", async () => {
    const api = createAdminClient({ baseUrl: env.urls.admin, apiKey: env.adminKey });
    const body = { slug: slug(), name: "Bad Currency", currency: "EURO" };
    const answer = await api.POST("/v1/brands", { body });
    expect(answer.response.status).toBe(400);
    expect(answer.error?.error).toMatchObject({ code: "invalid_request", field: "currency" });

    const thrown = await unwrap(api.POST("/v1/brands", { body })).catch((err: unknown) => err);
    expect(thrown).toBeInstanceOf(ApiError);
    expect(thrown).toMatchObject({ status: 400, code: "invalid_request", field: "currency" });
    expect((thrown as ApiError).message).toContain("currency");

    const missing = await unwrap(api.GET("/v1/brands/{id}", { params: { path: { id: "999999999" } } })).catch(
      (err: unknown) => err,
    );
    expect(isApiError(missing, "not_found")).toBe(true);

    const anonymous = createAdminClient({ baseUrl: env.urls.admin });
    const refused = await anonymous.json("GET", "/v1/brands").catch((err: unknown) => err);
    expect(refused).toMatchObject({ status: 401 });
  });

  test("Idempotency-Key: the same create again answers the first answer; another body with the key is a 409", async () => {
    const api = createAdminClient({ baseUrl: env.urls.admin, apiKey: env.adminKey });
    const key = newIdempotencyKey();
    const body = { slug: slug(), name: "Once", currency: "EUR" };
    const first = await api.POST("/v1/brands", { body, params: { header: { "Idempotency-Key": key } } });
    const again = await api.POST("/v1/brands", { body, params: { header: { "Idempotency-Key": key } } });
    expect(first.response.status).toBe(201);
    expect(again.response.status).toBe(201);
    expect(again.response.headers.get("idempotent-replayed")).toBe("true");
    expect(again.data?.id).toBe(first.data?.id as string);

    const other = await unwrap(
      api.POST("/v1/brands", {
        body: { ...body, name: "Twice" },
        params: { header: { "Idempotency-Key": key } },
      }),
    ).catch((err: unknown) => err);
    expect(other).toMatchObject({ status: 409, code: "idempotency_key_reused", field: "Idempotency-Key" });
    const [row] = await env.sql<
      { n: number }[]
    >`select count(*)::int as n from brands where slug = ${body.slug}`;
    expect(row?.n).toBe(1);
  });

  test("idempotencyKeys: a retrying fetch re-sends a create with its key, and it is done once", async () => {
    let sent = 0;
    // The first answer is lost on the way back (the server did the work); the retry carries the same key.
    const losesFirstAnswer = async (request: Request) => {
      sent++;
      await fetch(request.clone());
      sent++;
      return fetch(request);
    };
    const api = createAdminClient({
      baseUrl: env.urls.admin,
      apiKey: env.adminKey,
      idempotencyKeys: true,
      fetch: losesFirstAnswer,
    });
    const s = slug();
    const { data, response } = await api.POST("/v1/brands", {
      body: { slug: s, name: "Retried", currency: "EUR" },
    });
    expect(sent).toBe(2);
    expect(response.headers.get("idempotent-replayed")).toBe("true");
    const [row] = await env.sql<{ id: string; n: number }[]>`
      select min(id)::text as id, count(*)::int as n from brands where slug = ${s}`;
    expect(row).toEqual({ id: data?.id as string, n: 1 });
  });

  test("a session (cookie and CSRF token) instead of an API key", async () => {
    const anonymous = createAdminClient({ baseUrl: env.urls.admin });
    const signIn = await anonymous.POST("/v1/auth/sign-in", { body: { email: EMAIL, password: PASSWORD } });
    expect(signIn.response.status).toBe(200);
    const cookie = (signIn.response.headers.get("set-cookie") ?? "").split(";")[0] as string;
    expect(cookie).toStartWith("rt_session=");
    const csrfToken: string = signIn.data?.csrfToken ?? "";

    // A browser sends the cookie itself (credentials: "same-origin"); here it is a header.
    const signedIn = createAdminClient({
      baseUrl: env.urls.admin,
      headers: { cookie },
      csrfToken: () => csrfToken,
    });
    const me = await unwrap(signedIn.GET("/v1/auth/me"));
    expect(me.user.email).toBe(EMAIL);
    const brand = await unwrap(
      signedIn.POST("/v1/brands", { body: { slug: slug(), name: "By a person", currency: "EUR" } }),
    );
    expect(brand.name).toBe("By a person");

    const noCsrf = createAdminClient({ baseUrl: env.urls.admin, headers: { cookie } });
    const refused = await unwrap(
      noCsrf.POST("/v1/brands", { body: { slug: slug(), name: "Forged", currency: "EUR" } }),
    ).catch((err: unknown) => err);
    expect(refused).toMatchObject({ status: 403, code: "csrf_required" });
  });

  test("the gateway client: a postback accepted, a duplicate said so, a forged click ID refused", async () => {
    const res = await eventually(async () => {
      const r = await fetch(`${env.urls.click}/c/${program.link.code}`, {
        redirect: "manual",
        headers: { "user-agent": BROWSER_UA },
      });
      return r.status === 302 ? r : undefined;
    }, "the tracking link to redirect");
    const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;

    const gateway = createGatewayClient({ baseUrl: env.urls.gateway });
    const query = {
      click_id: clickId,
      txid: `tx-${slug()}`,
      event: "ftd",
      amount: "100.00",
      token: program.advertiser.token,
    };
    const accepted = await unwrap(gateway.GET("/postback", { params: { query } }));
    expect(accepted).toMatchObject({ status: "accepted", duplicate: false });
    const receipt: string = accepted.receipt_id;
    expect(receipt.length).toBeGreaterThan(0);
    const duplicate = await unwrap(gateway.POST("/postback", { body: query }));
    expect(duplicate.duplicate).toBe(true);

    const forged = await unwrap(
      gateway.GET("/postback", { params: { query: { ...query, click_id: `${clickId.slice(0, -2)}xx` } } }),
    ).catch((err: unknown) => err);
    expect(forged).toBeInstanceOf(ApiError);
    expect((forged as ApiError).status).toBe(422);
    expect((forged as ApiError).code).toStartWith("click_id_");
  });
});
