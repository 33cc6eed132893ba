import { afterAll, beforeAll, expect, test } from "bun:test";
import { createTestDatabase, type TestDatabase } from "@roundtrip/db";
import { pruneSignatures } from "./housekeeping.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase("gw_housekeeping");
});
afterAll(() => db.drop());

test("pruneSignatures removes an expired backlog larger than one batch in one pass, and keeps live ones", async () => {
  await db.sql`
    insert into postback_signatures (advertiser_id, signature, expires_at)
    select 1, 'expired-' || n, now() - interval '1 minute' from generate_series(1, 2345) as n`;
  await db.sql`
    insert into postback_signatures (advertiser_id, signature, expires_at)
    values (1, 'live', now() + interval '5 minutes')`;
  expect(await pruneSignatures(db.sql, { batch: 500 })).toBe(2345);
  const left = await db.sql`select signature from postback_signatures`;
  expect(left.map((r) => r.signature)).toEqual(["live"]);
});
