import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createSql, type Sql } from "./client.ts";
import { SharedRateLimiter } from "./shared-rate.ts";
import { createTestDatabase, type TestDatabase } from "./test-database.ts";

let db: TestDatabase;
/** A second pool: each "replica" talks to PostgreSQL over its own connections, as processes do. */
let other: Sql;

beforeAll(async () => {
  db = await createTestDatabase("sharedrate");
  other = createSql(db.url, { max: 3 });
});

afterAll(async () => {
  await other?.end({ timeout: 1 });
  await db?.drop();
});

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

describe("SharedRateLimiter", () => {
  test("two replicas taking at once admit the limit between them in a second, not twice it", async () => {
    let now = T0 + 100;
    const clock = () => now;
    const a = new SharedRateLimiter(db.sql, { namespace: "t1", now: clock });
    const b = new SharedRateLimiter(other, { namespace: "t1", now: clock });
    const takeMany = (l: SharedRateLimiter, n: number) =>
      Promise.all(Array.from({ length: n }, () => l.take("adv1", 20)));
    const admitted = (rs: { ok: boolean }[]) => rs.filter((r) => r.ok).length;
    // Both replicas admit from one budget: what one took (or holds leased), the other cannot.
    const first = await takeMany(a, 5);
    expect(admitted(first)).toBe(5);
    const fromB = await takeMany(b, 30);
    // 20 less a's 5 and what a still holds of its last lease (a lease is 10 % of the budget).
    expect(admitted(fromB)).toBeGreaterThanOrEqual(13);
    expect(admitted(fromB)).toBeLessThanOrEqual(15);
    // Racing for the rest (which one wins a race is not promised), the second admits 20 in all.
    const [ra, rb] = await Promise.all([takeMany(a, 30), takeMany(b, 30)]);
    expect(admitted(first) + admitted(fromB) + admitted(ra) + admitted(rb)).toBe(20);
    const refused = ra.find((r) => !r.ok);
    expect(refused).toEqual({ ok: false, retryAfterMs: 900 });
    // Once spent, a replica refuses from memory until the next second.
    expect(a.waitMs("adv1")).toBe(900);
    expect(a.spentKeys()).toEqual(["adv1"]);

    now = T0 + 1_000;
    expect(a.waitMs("adv1")).toBe(0);
    expect(a.spentKeys()).toEqual([]);
    const next = await takeMany(a, 25);
    expect(admitted(next)).toBe(20);
    // Budgets are per key and per namespace.
    expect((await a.take("adv2", 1)).ok).toBe(true);
    expect((await new SharedRateLimiter(db.sql, { namespace: "t2", now: clock }).take("adv1", 1)).ok).toBe(
      true,
    );
  });

  test("property: over any interleaving of replicas, clocks and limits, no second admits more than its limit", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 2, max: 3 }),
        fc.array(
          fc.record({
            replica: fc.nat(2),
            advanceMs: fc.integer({ min: 0, max: 400 }),
            burst: fc.integer({ min: 1, max: 12 }),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        async (limit, replicas, steps) => {
          const namespace = `p${run++}`;
          let now = T0;
          const limiters = Array.from(
            { length: replicas },
            (_, i) => new SharedRateLimiter(i % 2 ? other : db.sql, { namespace, now: () => now }),
          );
          const admittedPerSecond = new Map<number, number>();
          const offeredPerSecond = new Map<number, number>();
          for (const step of steps) {
            now += step.advanceMs;
            const second = Math.floor(now / 1000);
            const limiter = limiters[step.replica % replicas] as SharedRateLimiter;
            const results = await Promise.all(
              Array.from({ length: step.burst }, () => limiter.take("k", limit)),
            );
            const ok = results.filter((r) => r.ok).length;
            admittedPerSecond.set(second, (admittedPerSecond.get(second) ?? 0) + ok);
            offeredPerSecond.set(second, (offeredPerSecond.get(second) ?? 0) + step.burst);
          }
          for (const [second, admitted] of admittedPerSecond) {
            expect(admitted).toBeLessThanOrEqual(limit);
            // Under-admission is bounded: at most one unspent lease per replica.
            const lease = Math.max(1, Math.floor(limit * 0.1));
            const offered = offeredPerSecond.get(second) ?? 0;
            expect(admitted).toBeGreaterThanOrEqual(Math.min(offered, limit) - replicas * lease);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
