import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import { balances } from "./balances.ts";
import { insertEntry, type NewEntry } from "./entries.ts";
import { LedgerRuleError } from "./errors.ts";

let db: TestDatabase;
let sql: Sql;
let affiliate: string;

beforeAll(async () => {
  db = await createTestDatabase("ledger");
  sql = db.sql;
  const [a] = await sql`insert into affiliates (name, payout_currency) values ('A', 'EUR') returning id`;
  affiliate = a?.id;
});
afterAll(async () => {
  await db?.drop();
});

const manual = (over: Partial<NewEntry> = {}): NewEntry => ({
  type: "adjustment",
  affiliate_id: affiliate,
  payout: "10.00",
  revenue: "0",
  currency: "EUR",
  availability: { now: true },
  affiliate_payout: "10.00",
  affiliate_currency: "EUR",
  reason: "bonus",
  actor: "test",
  calculation: {},
  ...over,
});

describe("the ledger's write rules", () => {
  test("each type must carry its link; nothing is written when it does not", async () => {
    const refused = async (e: NewEntry, field: string) => {
      const err = await sql.begin((tx) => insertEntry(tx, e)).catch((x) => x);
      expect(err).toBeInstanceOf(LedgerRuleError);
      expect((err as LedgerRuleError).field).toBe(field);
    };
    await refused(manual({ reason: null }), "reason");
    await refused(manual({ actor: null }), "actor");
    await refused(manual({ type: "commission" }), "conversion_id");
    await refused(manual({ type: "reversal", conversion_id: "1" }), "reverses_entry_id");
    const [n] = await sql`select count(*)::int as n from ledger_entries`;
    expect(n?.n).toBe(0);
  });

  test("entries are immutable: an update or a delete is refused by the database", async () => {
    const row = await sql.begin((tx) => insertEntry<{ id: string }>(tx, manual()));
    const update = await sql`update ledger_entries set payout = 99 where id = ${row?.id as string}`.catch(
      (e) => e,
    );
    expect(String(update)).toContain("immutable");
    const del = await sql`delete from ledger_entries where id = ${row?.id as string}`.catch((e) => e);
    expect(String(del)).toContain("immutable");
  });

  test("availability: held entries are pending, inDays lands in the future, notBefore never earlier than now", async () => {
    const [b] = await sql`insert into affiliates (name, payout_currency) values ('B', 'EUR') returning id`;
    const aff = b?.id as string;
    await sql.begin(async (tx) => {
      await insertEntry(tx, manual({ affiliate_id: aff, availability: { inDays: 10 } }));
      await insertEntry(tx, manual({ affiliate_id: aff, availability: { notBefore: new Date(0) } }));
      await insertEntry(tx, manual({ affiliate_id: aff, availability: { notBefore: null } }));
    });
    const [now] = await balances(sql, { affiliateId: aff, asOf: new Date(Date.now() + 1000) });
    expect(now).toMatchObject({ available: "10.00", pending: "20.00", total: "30.00" });
    const [later] = await balances(sql, { affiliateId: aff, asOf: new Date(Date.now() + 11 * 86_400_000) });
    expect(later).toMatchObject({ available: "20.00", pending: "10.00" });
  });
});
