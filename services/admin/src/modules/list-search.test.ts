import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { adminHarness, type Harness, program } from "../test-support.ts";

/**
 * Lists searched and sorted on the server (`q`, `sort`, docs/console.md "Lists"): a search looks
 * at every page and only at columns the caller may read, `%` and `_` are matched as themselves,
 * sorted pages are keyset pages that visit each row once in either order, an unknown sort column
 * is refused by name, and the conversions CSV export honours the same search.
 */
let h: Harness;
let p: Awaited<ReturnType<typeof program>>;

beforeAll(async () => {
  h = await adminHarness("list-search");
  p = await program(h);
  for (const name of ["Zeta Media", "alpha clicks", "Alpha Media", "Beta 100% Traffic", "Gamma_Ads"])
    await h.ok("POST", "/v1/affiliates", { name });
});
afterAll(async () => {
  await h?.cleanup();
});

type Page = { data: { id: string; name: string }[]; next_cursor: string | null };
const names = async (query: string) =>
  (await h.call<Page>("GET", `/v1/affiliates?${query}`, h.keys.analyst)).body.data.map((a) => a.name);

/** Every page of a list, one row a page, following next_cursor. */
async function walk(query: string): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 50; i++) {
    const r: Awaited<ReturnType<typeof h.call<Page>>> = await h.call<Page>(
      "GET",
      `/v1/affiliates?${query}&limit=1${cursor ? `&cursor=${cursor}` : ""}`,
      h.keys.analyst,
    );
    expect(r.status).toBe(200);
    seen.push(...r.body.data.map((a) => a.name));
    cursor = r.body.next_cursor;
    if (!cursor) break;
  }
  return seen;
}

describe("server-side search and sort", () => {
  test("q searches names case-insensitively across every page; % and _ are literal", async () => {
    expect((await names("q=alpha")).sort()).toEqual(["Alpha Media", "alpha clicks"]);
    expect(await names("q=100%25")).toEqual(["Beta 100% Traffic"]);
    expect(await names("q=a_a")).toEqual(["Gamma_Ads"]);
    expect(await names("q=nobody")).toEqual([]);
    // The search is on the server: one row a page still finds both.
    expect((await walk("q=media")).sort()).toEqual(["Alpha Media", "Zeta Media"]);
  });

  test("sort pages by (column, id) in either order, each row once", async () => {
    // The database's collation decides the order; one page of all of them is the reference.
    const all = await names("sort=name&order=asc&limit=500");
    expect([...all].sort()).toEqual((await names("limit=500")).sort());
    expect(all.indexOf("Alpha Media")).toBeLessThan(all.indexOf("Zeta Media"));
    expect(await walk("sort=name&order=asc")).toEqual(all);
    expect(await walk("sort=name&order=desc")).toEqual([...all].reverse());
    const bad = await h.call<{ error: { field?: string } }>(
      "GET",
      "/v1/affiliates?sort=password",
      h.keys.analyst,
    );
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("sort");
  });

  test("conversions: search by txid in the list and the CSV export; an affiliate searches only its own", async () => {
    const other = await h.ok<{ id: string }>("POST", "/v1/affiliates", { name: "Other" });
    const insert = (txid: string, affiliate: string) => h.sql`
      insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event, status, amount, currency, occurred_at, receipt_id)
      values (${p.advertiser.id}, ${p.brand.id}, ${p.offer.id}, ${affiliate}, ${p.link.id}, 'c', now(), ${txid}, 'ftd', 'approved', 10, 'EUR', now(), 1)`;
    await insert("order-7781", p.affiliate.id);
    await insert("order-7782", p.affiliate.id);
    await insert("order-7781-x", other.id);
    const list = await h.call<{ data: { txid: string }[] }>("GET", "/v1/conversions?q=7781", h.keys.analyst);
    expect(list.body.data.map((c) => c.txid).sort()).toEqual(["order-7781", "order-7781-x"]);
    const csv = await h.call("GET", "/v1/conversions/export?q=7781", h.keys.analyst);
    expect(csv.status).toBe(200);
    expect(csv.text.trim().split("\n")).toHaveLength(3);
    expect(csv.text).not.toContain("order-7782");
    const key = await h.affiliateKey(p.affiliate.id);
    const mine = await h.call<{ data: { txid: string }[] }>("GET", "/v1/conversions?q=7781", key);
    expect(mine.body.data.map((c) => c.txid)).toEqual(["order-7781"]);
    const sorted = await h.call<{ data: { txid: string }[] }>(
      "GET",
      "/v1/conversions?q=order&sort=occurred_at&order=desc",
      h.keys.analyst,
    );
    expect(sorted.status).toBe(200);
    expect(sorted.body.data).toHaveLength(3);
  });

  test("deliveries: a search never matches the URL's masked secrets", async () => {
    const [t] = await h.sql`
      insert into affiliate_postbacks (affiliate_id, url_template) values (${p.affiliate.id}, 'https://aff.example/pb?token=s3cr3t')
      returning id`;
    await h.sql`
      insert into deliveries (conversion_id, change_seq, template_id, affiliate_id, method, url, status, attempts, last_error)
      values (1, 1, ${t?.id}, ${p.affiliate.id}, 'GET', 'https://aff.example/pb?token=s3cr3t', 'pending', 2, 'connect ECONNREFUSED')`;
    const found = async (q: string) =>
      (await h.call<{ data: unknown[] }>("GET", `/v1/deliveries?q=${q}`, h.keys.analyst)).body.data.length;
    expect(await found("s3cr3t")).toBe(0);
    expect(await found("econnrefused")).toBe(1);
  });

  test("clicks: search the click ID, referrer and sub IDs within the period", async () => {
    await h.sql`
      insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, referrer, subs)
      values ('srch-1', now(), ${p.link.id}, ${p.offer.id}, ${p.affiliate.id}, ${p.brand.id}, 'https://news.example/a', '{"sub1":"spring-campaign"}'),
             ('srch-2', now(), ${p.link.id}, ${p.offer.id}, ${p.affiliate.id}, ${p.brand.id}, null, '{}')`;
    const ids = async (q: string) =>
      (await h.call<{ data: { click_id: string }[] }>("GET", `/v1/clicks?q=${q}`, h.keys.analyst)).body.data
        .map((c) => c.click_id)
        .sort();
    expect(await ids("SPRING")).toEqual(["srch-1"]);
    expect(await ids("news.example")).toEqual(["srch-1"]);
    expect(await ids("srch-")).toEqual(["srch-1", "srch-2"]);
  });

  test("ledger entries take q and sort too; an unknown column is refused", async () => {
    const ok = await h.call(
      "GET",
      "/v1/ledger-entries?q=adjust&sort=affiliate_payout&order=desc",
      h.keys.analyst,
    );
    expect(ok.status).toBe(200);
    expect((await h.call("GET", "/v1/ledger-entries?sort=calculation", h.keys.analyst)).status).toBe(400);
  });
});
