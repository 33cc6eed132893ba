import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { adminHarness, type Harness } from "./test-support.ts";
import { pruneIdempotencyKeys, WITHHELD } from "./idempotency.ts";

/**
 * Idempotency-Key against a separate admin process (the deployed entry): replay, conflict,
 * concurrency — one create however many identical requests race — and expiry.
 */
let h: Harness;
beforeAll(async () => {
  h = await adminHarness("idem", { process: true });
}, 120_000);
afterAll(async () => {
  await h?.cleanup();
});

const post = (path: string, body: unknown, key: string | null, apiKey = h.keys.admin) =>
  fetch(`${h.url}${path}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${apiKey}`,
      "content-type": "application/json",
      ...(key ? { "idempotency-key": key } : {}),
    },
    body: JSON.stringify(body),
  });
const slug = () => `idem-${crypto.randomUUID().slice(0, 8)}`;
const brandCount = async (s: string) =>
  Number((await h.sql`select count(*)::int as n from brands where slug = ${s}`)[0]?.n);

describe("Idempotency-Key on creates", () => {
  test("the same key and body answer the first answer again; the create happens once", async () => {
    const body = { slug: slug(), name: "Idem", currency: "EUR" };
    const key = crypto.randomUUID();
    const first = await post("/v1/brands", body, key);
    expect(first.status).toBe(201);
    const created = (await first.json()) as { id: string };
    const again = await post("/v1/brands", body, key);
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toEqual(created);
    expect(await brandCount(body.slug)).toBe(1);
    // Without a key the same body is a new request: here the slug is taken.
    expect((await post("/v1/brands", body, null)).status).toBe(409);
  });

  test("a secret shown once is never kept with the answer: a replay withholds it", async () => {
    const key = crypto.randomUUID();
    const body = { name: `idem-key-${crypto.randomUUID().slice(0, 6)}`, role: "analyst" };
    const first = await post("/v1/api-keys", body, key);
    expect(first.status).toBe(201);
    const created = (await first.json()) as { id: string; key: string };
    expect(created.key.length).toBeGreaterThan(20);
    const [stored] = await h.sql`select response::text as r from idempotency_keys where key = ${key}`;
    expect(stored?.r).not.toContain(created.key);
    const again = await post("/v1/api-keys", body, key);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toEqual({ ...created, key: WITHHELD });
  });

  test("the same key with another body is a 409 naming the header; the key stays bound to its first request", async () => {
    const key = crypto.randomUUID();
    const a = { slug: slug(), name: "A", currency: "EUR" };
    expect((await post("/v1/brands", a, key)).status).toBe(201);
    const other = await post("/v1/brands", { ...a, slug: slug() }, key);
    expect(other.status).toBe(409);
    expect(await other.json()).toMatchObject({
      error: { code: "idempotency_key_reused", field: "Idempotency-Key" },
    });
    // Another path with the key is "another request" too.
    expect((await post("/v1/affiliates", { name: "X", payout_currency: "EUR" }, key)).status).toBe(409);
  });

  test("a refused request (4xx) is its key's answer too; keys are per caller", async () => {
    const key = crypto.randomUUID();
    const bad = { slug: slug(), name: "Bad", currency: "EUR", timezone: "Mars/Olympus" };
    const first = await post("/v1/brands", bad, key);
    expect(first.status).toBe(400);
    const replay = await post("/v1/brands", bad, key);
    expect(replay.status).toBe(400);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.json()).toEqual(await first.json());
    // The manager's key with the same Idempotency-Key is its own request.
    const mine = { name: "Manager's", payout_currency: "EUR" };
    expect((await post("/v1/affiliates", mine, key, h.keys.manager)).status).toBe(201);
  });

  test("concurrent requests with one key: one create; every other answer is its replay or 409 in use", async () => {
    for (let round = 0; round < 3; round++) {
      const body = { slug: slug(), name: "Race", currency: "EUR" };
      const key = crypto.randomUUID();
      const answers = await Promise.all(
        Array.from({ length: 8 }, async () => {
          const res = await post("/v1/brands", body, key);
          return {
            status: res.status,
            body: (await res.json()) as { id?: string; error?: { code: string } },
          };
        }),
      );
      expect(await brandCount(body.slug)).toBe(1);
      const created = answers.filter((a) => a.status === 201);
      expect(created.length).toBeGreaterThanOrEqual(1);
      expect(new Set(created.map((a) => a.body.id)).size).toBe(1);
      for (const a of answers.filter((x) => x.status !== 201)) {
        expect(a.status).toBe(409);
        expect(a.body.error?.code).toBe("idempotency_key_in_use");
      }
      // Once the first finished, a retry is its replay.
      const retry = await post("/v1/brands", body, key);
      expect(retry.status).toBe(201);
      expect(((await retry.json()) as { id: string }).id).toBe(created[0]?.body.id as string);
    }
  });

  test("an expired key is forgotten (pruned) and the key can be used afresh", async () => {
    const key = crypto.randomUUID();
    const body = { name: "Expiring", payout_currency: "EUR" };
    const first = (await (await post("/v1/affiliates", body, key)).json()) as { id: string };
    await h.sql`update idempotency_keys set expires_at = now() - interval '1 second' where key = ${key}`;
    expect(await pruneIdempotencyKeys(h.sql)).toBeGreaterThanOrEqual(1);
    expect((await h.sql`select 1 from idempotency_keys where key = ${key}`).length).toBe(0);
    const second = await post("/v1/affiliates", body, key);
    expect(second.status).toBe(201);
    expect(second.headers.get("idempotent-replayed")).toBeNull();
    expect(((await second.json()) as { id: string }).id).not.toBe(first.id);
  });

  test("a malformed key is a 400 naming the header", async () => {
    const res = await post("/v1/brands", { slug: slug(), name: "K", currency: "EUR" }, "x".repeat(256));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { field: "Idempotency-Key" } });
  });
});
