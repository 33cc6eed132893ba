import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createTestDatabase, type TestDatabase } from "./test-database.ts";
import { decideUniqueVisits, pruneVisitors, type VisitClick } from "./unique-visits.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("uniquevisits");
});

afterAll(async () => {
  await db?.drop();
});

const T0 = Date.UTC(2026, 11, 1, 0, 0, 0);
const at = (ms: number) => new Date(T0 + ms).toISOString();
const HOUR = 3_600_000;

const decide = (clicks: VisitClick[]) => db.sql.begin((tx) => decideUniqueVisits(tx, clicks));
const uniqueIds = (clicks: VisitClick[]) => clicks.filter((c) => c.is_unique).map((c) => c.click_id);

describe("decideUniqueVisits", () => {
  test("the first click of a visitor opens a 24-hour window; later ones are repeats, another consumer reads the same", async () => {
    const v = `v-${crypto.randomUUID()}`;
    const w = `w-${crypto.randomUUID()}`;
    const batch1: VisitClick[] = [
      { click_id: "a2", clicked_at: at(2_000), is_unique: true, visitor: v },
      { click_id: "a1", clicked_at: at(1_000), is_unique: true, visitor: v },
      { click_id: "bot", clicked_at: at(500), is_unique: false, visitor: w },
      { click_id: "old", clicked_at: at(0), is_unique: true },
    ];
    expect(uniqueIds(await decide(batch1))).toEqual(["a1", "old"]);
    // A second consumer, or a redelivery, of the same batch: the same answer.
    expect(uniqueIds(await decide(batch1))).toEqual(["a1", "old"]);
    const batch2: VisitClick[] = [
      { click_id: "a3", clicked_at: at(23 * HOUR), is_unique: true, visitor: v },
      { click_id: "b1", clicked_at: at(23 * HOUR), is_unique: true, visitor: w }, // the bot opened nothing
    ];
    expect(uniqueIds(await decide(batch2))).toEqual(["b1"]);
    const batch3: VisitClick[] = [
      { click_id: "a4", clicked_at: at(24 * HOUR + 1_000), is_unique: true, visitor: v },
    ];
    expect(uniqueIds(await decide(batch3))).toEqual(["a4"]);
  });

  test("property: consumers taking the batches in any order and concurrently agree, one unique click per visitor within a day", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ visitor: fc.nat(3), offsetMs: fc.nat(20 * HOUR) }), {
          minLength: 1,
          maxLength: 30,
        }),
        fc.integer({ min: 1, max: 5 }),
        fc.infiniteStream(fc.nat()),
        async (raw, batches, shuffle) => {
          const tag = `r${run++}`;
          const clicks: VisitClick[] = raw.map((c, i) => ({
            click_id: `${tag}-${i}`,
            clicked_at: at(c.offsetMs),
            is_unique: true,
            visitor: `${tag}-v${c.visitor}`,
          }));
          const split: VisitClick[][] = Array.from({ length: batches }, () => []);
          for (const [i, c] of clicks.entries()) split[i % batches]?.push(c);
          const order = (n: number) => {
            const rest = [...split.keys()];
            const out: number[] = [];
            const it = shuffle[Symbol.iterator]();
            while (rest.length)
              out.push(rest.splice((it.next().value as number) % rest.length, 1)[0] as number);
            return n % 2 ? out.reverse() : out;
          };
          // Two consumers (attribution, admin's rollup), each on its own order, at the same time.
          const decided = await Promise.all(
            [0, 1].map(async (consumer) => {
              const unique = new Set<string>();
              for (const b of order(consumer))
                for (const id of uniqueIds(await decide(split[b] as VisitClick[]))) unique.add(id);
              return unique;
            }),
          );
          const [a, b] = decided as [Set<string>, Set<string>];
          expect([...a].sort()).toEqual([...b].sort());
          const visitors = new Set(clicks.map((c) => c.visitor));
          const uniqueVisitors = clicks.filter((c) => a.has(c.click_id)).map((c) => c.visitor);
          expect(uniqueVisitors.sort()).toEqual([...visitors].sort());
        },
      ),
      { numRuns: 30 },
    );
  });

  test("visitors whose window ended more than an hour ago are pruned", async () => {
    const v = `p-${crypto.randomUUID()}`;
    await db.sql`insert into click_visitors values (${v}, 'x', now() - interval '26 hours'), (${`${v}-new`}, 'y', now())`;
    expect(await pruneVisitors(db.sql)).toBeGreaterThanOrEqual(1);
    const left = await db.sql`select visitor from click_visitors where visitor like ${`${v}%`}`;
    expect(left.map((r) => r.visitor)).toEqual([`${v}-new`]);
  });
});
