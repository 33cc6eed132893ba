import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ClicksRecorded } from "@roundtrip/contracts";
import { createTestDatabase, type TestDatabase } from "@roundtrip/db";
import { type RefusedClick, storeClicks } from "./click-store.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase("clickstore");
});
afterAll(() => db.drop());

const click = (id: string, extra: Partial<ClicksRecorded["clicks"][number]> = {}) => ({
  click_id: id,
  clicked_at: "2026-11-21T10:00:00.000Z",
  link_id: "7",
  offer_id: "3",
  affiliate_id: "5",
  brand_id: "1",
  is_unique: true,
  ...extra,
});

describe("storing clicks from CLICKS events", () => {
  test("every click of the batch becomes a row with its details", async () => {
    const stored = await db.sql.begin((tx) =>
      storeClicks(tx, {
        clicks: [
          click("s-1", {
            ip: "203.0.113.0",
            user_agent: "UA",
            referrer: "https://r.example/",
            subs: { sub1: "x" },
          }),
          click("s-2"),
        ],
      }),
    );
    expect(stored).toBe(2);
    const rows =
      await db.sql`select click_id, link_id, ip, user_agent, referrer, subs from clicks order by click_id`;
    expect([...rows]).toEqual([
      {
        click_id: "s-1",
        link_id: "7",
        ip: "203.0.113.0",
        user_agent: "UA",
        referrer: "https://r.example/",
        subs: { sub1: "x" },
      },
      { click_id: "s-2", link_id: "7", ip: null, user_agent: null, referrer: null, subs: {} },
    ]);
  });

  test("a click already stored (redelivery, or written by the click service's fallback) is left as it is", async () => {
    const stored = await db.sql.begin((tx) =>
      storeClicks(tx, { clicks: [click("s-1", { user_agent: "other" }), click("s-3")] }),
    );
    expect(stored).toBe(1);
    const [s1] = await db.sql`select user_agent from clicks where click_id = 's-1'`;
    expect(s1?.user_agent).toBe("UA");
  });
});

describe("a click PostgreSQL refuses", () => {
  // Past bigint: the schema's \d{1,19} lets it through, PostgreSQL does not (SQLSTATE 22003).
  const poison = click("p-2", { link_id: "9999999999999999999" });

  test("fails the whole batch when no one collects refused clicks", async () => {
    await expect(db.sql.begin((tx) => storeClicks(tx, { clicks: [click("p-0"), poison] }))).rejects.toThrow();
    expect(await db.sql`select 1 from clicks where click_id = 'p-0'`).toHaveLength(0);
  });

  test("is handed back alone while the rest of its batch is stored", async () => {
    const refused: RefusedClick[] = [];
    const stored = await db.sql.begin((tx) =>
      storeClicks(tx, { clicks: [click("p-1"), poison, click("p-3", { subs: { sub1: "ok" } })] }, refused),
    );
    expect(stored).toBe(2);
    expect(refused.map((r) => [r.click.click_id, r.error.code])).toEqual([["p-2", "22003"]]);
    const rows = await db.sql`select click_id from clicks where click_id like 'p-%' order by click_id`;
    expect(rows.map((r) => r.click_id)).toEqual(["p-1", "p-3"]);
  });
});
