import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fromMicros, toMicros } from "@roundtrip/contracts";
import { createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import fc from "fast-check";
import { approvePayoutRun, planPayouts, recordLineOutcome } from "./payouts.ts";

let db: TestDatabase;
let sql: Sql;
const DAY = 86_400_000;
const today = new Date(Math.floor(Date.now() / DAY) * DAY);
const daysAgo = (n: number) => new Date(today.getTime() - n * DAY);

beforeAll(async () => {
  db = await createTestDatabase("payouts-property");
  sql = db.sql;
});
afterAll(async () => {
  await db?.drop();
});

/** Money the affiliate earned (or lost: a chargeback) on a day, payable some days ago or held. */
type Earn = { kind: "earn"; cents: number; day: number; payable: number | null };
type Run = { kind: "run"; cutoff: number };
type Fail = { kind: "fail" };
type Step = Earn | Run | Fail;

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("earn" as const),
    cents: fc.integer({ min: -8_000, max: 20_000 }).filter((c) => c !== 0),
    day: fc.integer({ min: 1, max: 4 }),
    payable: fc.option(fc.integer({ min: 0, max: 4 }), { nil: null }),
  }),
  fc.record({ kind: fc.constant("run" as const), cutoff: fc.integer({ min: 0, max: 3 }) }),
  fc.constant<Fail>({ kind: "fail" }),
);

const cents = (amount: string) => Number(toMicros(amount) / 10_000n);

describe("payout runs against a model (fast-check)", () => {
  test("whatever the order of earnings, chargebacks, runs and failed lines: nothing is paid twice, the books balance", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 10 }), async (steps) => {
        const [a] =
          await sql`insert into affiliates (name, payout_currency) values ('P', 'GBP') returning id`;
        const aff = a?.id as string;
        await sql`insert into affiliate_payout_settings (affiliate_id, cycle, cycle_days) values (${aff}, 'custom', 1)`;
        await sql`insert into affiliate_payment_details (affiliate_id, method, account_reference) values (${aff}, 'paypal', 'p@x.example')`;
        // the model: every entry with the moment it becomes payable, and every line with its fate
        const earned: { cents: number; payableAt: number | null }[] = [];
        const lines: { id: string; cents: number; failed: boolean }[] = [];
        const modelDue = (cutoff: Date) =>
          earned
            .filter((e) => e.payableAt !== null && e.payableAt <= cutoff.getTime())
            .reduce((s, e) => s + e.cents, 0) -
          lines.filter((l) => !l.failed).reduce((s, l) => s + l.cents, 0);
        for (const s of steps) {
          if (s.kind === "earn") {
            const created = new Date(daysAgo(s.day).getTime() + 3_600_000);
            const payableAt = s.payable === null ? null : new Date(daysAgo(s.payable).getTime() + 7_200_000);
            const amount = fromMicros(BigInt(s.cents) * 10_000n, 2);
            await sql`
              insert into ledger_entries (affiliate_id, type, payout, revenue, currency, affiliate_payout, affiliate_currency,
                                          available_at, created_at, reason, actor)
              values (${aff}, 'adjustment', ${amount}, 0, 'GBP', ${amount}, 'GBP', ${payableAt}, ${created}, 'model', 'test')`;
            earned.push({ cents: s.cents, payableAt: payableAt?.getTime() ?? null });
          } else if (s.kind === "run") {
            const cutoff = daysAgo(s.cutoff);
            const before = modelDue(cutoff);
            await sql.begin((tx) => approvePayoutRun(tx, cutoff, "test", null));
            const paid = await sql<{ id: string; amount: string }[]>`
              select id::text, amount::text from payout_lines where affiliate_id = ${aff} and id not in ${sql(lines.length ? lines.map((l) => l.id) : ["0"])}`;
            // a run pays exactly what is due when positive, and nothing otherwise
            expect(paid.map((p) => cents(p.amount))).toEqual(before > 0 ? [before] : []);
            for (const p of paid) lines.push({ id: p.id, cents: cents(p.amount), failed: false });
          } else {
            const pending = lines.find((l) => !l.failed);
            if (!pending) continue;
            const [row] = await sql`select status from payout_lines where id = ${pending.id}`;
            if (row?.status !== "pending") continue;
            await sql.begin((tx) => recordLineOutcome(tx, pending.id, { status: "failed" }, "test"));
            pending.failed = true;
          }
          // after every step the ledger says what the model says
          for (const cutoff of [daysAgo(3), daysAgo(1), today]) {
            const { lines: planned } = await sql.begin((tx) => planPayouts(tx, cutoff, { affiliateId: aff }));
            expect(cents(planned[0]?.due ?? "0")).toBe(modelDue(cutoff));
          }
          const [books] = await sql<{ paid: string | null; returned: string | null }[]>`
            select sum(affiliate_payout) filter (where type = 'payout')::text as paid,
                   sum(affiliate_payout) filter (where type = 'payout_return')::text as returned
            from ledger_entries where affiliate_id = ${aff}`;
          expect(0 - cents(books?.paid ?? "0") || 0).toBe(lines.reduce((s, l) => s + l.cents, 0));
          expect(cents(books?.returned ?? "0")).toBe(
            lines.filter((l) => l.failed).reduce((s, l) => s + l.cents, 0),
          );
        }
      }),
      { numRuns: 25 },
    );
  }, 180_000);
});
