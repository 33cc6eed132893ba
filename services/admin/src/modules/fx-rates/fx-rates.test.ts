import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type TestAdmin, testAdmin } from "../../testing/money-app.ts";

let admin: TestAdmin;

beforeAll(async () => {
  admin = await testAdmin("fxrates");
});
afterAll(async () => {
  await admin?.close();
});

type Rates = { data: { base: string; quote: string; rate: string; effective_at: string }[] };

describe("FX rates as data with an effective time", () => {
  test("one rate, many rates, and the rate in force at a time", async () => {
    const one = await admin.call("POST", "/v1/fx-rates", {
      base: "EUR",
      quote: "USD",
      rate: "1.08",
      effective_at: "2026-01-01T00:00:00Z",
    });
    expect(one.status).toBe(201);
    const many = await admin.call<Rates>("POST", "/v1/fx-rates", {
      rates: [
        { base: "EUR", quote: "USD", rate: "1.10", effective_at: "2026-03-01T00:00:00Z" },
        { base: "EUR", quote: "GBP", rate: "0.85", effective_at: "2026-01-01T00:00:00Z" },
      ],
    });
    expect(many.body.data).toHaveLength(2);
    const feb = await admin.call<Rates>("GET", "/v1/fx-rates?base=EUR&at=2026-02-15T00:00:00Z");
    expect(feb.body.data.map((r) => [r.quote, r.rate])).toEqual([
      ["GBP", "0.850000000000"],
      ["USD", "1.080000000000"],
    ]);
    const mar = await admin.call<Rates>("GET", "/v1/fx-rates?base=EUR&quote=USD&at=2026-03-01T00:00:00Z");
    expect(mar.body.data[0]?.rate).toBe("1.100000000000");
  });

  test("a CSV load: any column order, dates or date-times, loading twice changes nothing", async () => {
    const csv =
      "effective_at,base,quote,rate\n2026-04-01,usd,jpy,151.25\n2026-04-01T12:00:00Z,GBP,EUR,1.17\n";
    const first = await admin.call("POST", "/v1/fx-rates/import", csv, { contentType: "text/csv" });
    expect(first).toEqual({ status: 201, body: { imported: 2 } });
    await admin.call("POST", "/v1/fx-rates/import", csv, { contentType: "text/csv" });
    const [{ n }] =
      (await admin.sql`select count(*)::int as n from fx_rates where source = 'csv'`) as unknown as [
        { n: number },
      ];
    expect(n).toBe(2);
    const jpy = await admin.call<Rates>("GET", "/v1/fx-rates?base=USD&quote=JPY");
    expect(jpy.body.data[0]).toMatchObject({
      rate: "151.250000000000",
      effective_at: "2026-04-01T00:00:00.000Z",
    });
  });

  test("a bad CSV is refused as a whole, naming the line", async () => {
    const csv = "base,quote,rate,effective_at\nEUR,CHF,0.95,2026-01-01\nEUR,CHF,abc,2026-02-01\n";
    const r = await admin.call<{ error: { message: string } }>("POST", "/v1/fx-rates/import", csv, {
      contentType: "text/csv",
    });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain("line 3: rate");
    const [{ n }] =
      (await admin.sql`select count(*)::int as n from fx_rates where quote = 'CHF'`) as unknown as [
        { n: number },
      ];
    expect(n).toBe(0);
    const missing = await admin.call<{ error: { message: string } }>(
      "POST",
      "/v1/fx-rates/import",
      "base,quote\nEUR,CHF\n",
      { contentType: "text/csv" },
    );
    expect(missing.body.error.message).toBe("the CSV lacks column rate, effective_at");
  });

  test("refuses a pair of one currency and a rate of zero", async () => {
    expect(
      (
        await admin.call("POST", "/v1/fx-rates", {
          base: "EUR",
          quote: "EUR",
          rate: "1",
          effective_at: "2026-01-01T00:00:00Z",
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await admin.call("POST", "/v1/fx-rates", {
          base: "EUR",
          quote: "SEK",
          rate: "0",
          effective_at: "2026-01-01T00:00:00Z",
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await admin.call("POST", "/v1/fx-rates", {
          base: "EUR",
          quote: "SEK",
          rate: "1e3",
          effective_at: "2026-01-01T00:00:00Z",
        })
      ).status,
    ).toBe(400);
  });
});
