import { afterAll, beforeAll, expect, test } from "bun:test";
import { adminHarness, type Harness } from "./test-support.ts";

let h: Harness;
beforeAll(async () => {
  h = await adminHarness("last_used");
});
afterAll(() => h?.cleanup());

test("api_keys.last_used_at is written on a key's first request, then at most once a minute", async () => {
  const created = await h.ok<{ id: string; key: string }>("POST", "/v1/api-keys", {
    name: "throttled",
    role: "analyst",
  });
  const lastUsed = async () =>
    (await h.sql<{ at: Date | null }[]>`select last_used_at as at from api_keys where id = ${created.id}`)[0]
      ?.at;
  expect(await lastUsed()).toBeNull();
  expect((await h.call("GET", "/v1/offers", created.key)).status).toBe(200);
  expect(await lastUsed()).toBeInstanceOf(Date);
  // Cleared behind the process's back: requests within the minute do not write it again.
  await h.sql`update api_keys set last_used_at = null where id = ${created.id}`;
  for (let i = 0; i < 5; i++) expect((await h.call("GET", "/v1/offers", created.key)).status).toBe(200);
  expect(await lastUsed()).toBeNull();
});
