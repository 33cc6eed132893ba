import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { handleOnce } from "@roundtrip/bus";
import type {
  ClickRecorded,
  CommissionBooked,
  ConversionChanged,
  ConversionStatus,
} from "@roundtrip/contracts";
import { adminHarness, type Harness, program } from "../test-support.ts";
import { foldPostbackLog } from "./fold.ts";
import { foldClicks, foldCommission, foldConversion } from "./rollup.ts";

/**
 * Report figures against raw data: generated clicks, conversions with status changes and ledger
 * entries go into the raw tables, their events through the fold functions exactly as the
 * consumers run them (inside handleOnce, redelivered and out of order), and every report figure
 * must equal the same aggregate computed straight from the raw tables.
 */

let h: Harness;
type Program = Awaited<ReturnType<typeof program>>;
let P1: Program;
let P2: Program;
let testAffiliate: { id: string };
let testLink: { id: string };

const HOUR = 3_600_000;
// A fixed start, so day boundaries in Europe/Malta fall inside the data.
const START = Date.parse("2026-03-10T18:00:00Z");
const SPAN_HOURS = 36;
let seed = 42;
const rand = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};
const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)] as T;

const clickEvents: ClickRecorded[][] = [];
const conversionEvents: ConversionChanged[] = [];
const commissionEvents: CommissionBooked[] = [];

async function deliver<T>(
  consumer: string,
  msgId: string,
  payload: T,
  fold: (tx: never, p: T) => Promise<unknown>,
) {
  return handleOnce(h.sql, { consumer, messageId: msgId }, (tx) => fold(tx as never, payload));
}

async function generate() {
  type LinkRef = { link: string; offer: string; affiliate: string; brand: string; advertiser: string };
  const links: LinkRef[] = [
    {
      link: P1.link.id,
      offer: P1.offer.id,
      affiliate: P1.affiliate.id,
      brand: P1.brand.id,
      advertiser: P1.advertiser.id,
    },
    {
      link: P2.link.id,
      offer: P2.offer.id,
      affiliate: P2.affiliate.id,
      brand: P2.brand.id,
      advertiser: P2.advertiser.id,
    },
    {
      link: testLink.id,
      offer: P1.offer.id,
      affiliate: testAffiliate.id,
      brand: P1.brand.id,
      advertiser: P1.advertiser.id,
    },
  ];
  const clicks: (ClickRecorded & { subs: Record<string, string>; ref: LinkRef })[] = [];
  for (let i = 0; i < 600; i++) {
    const ref = pick(links);
    const at = new Date(START + Math.floor(rand() * SPAN_HOURS * HOUR));
    const subs: Record<string, string> = {};
    const s1 = pick(["news", "search", ""]);
    if (s1) subs.sub1 = s1;
    const s2 = pick(["x", ""]);
    if (s2) subs.sub2 = s2;
    // The visitor's country (offline GeoIP; null for a private address).
    const country = pick(["GB", "DE", "MT", null]);
    clicks.push({
      click_id: h.codec.mint(Number(ref.link), at),
      clicked_at: at.toISOString(),
      link_id: ref.link,
      offer_id: ref.offer,
      affiliate_id: ref.affiliate,
      brand_id: ref.brand,
      is_unique: rand() < 0.8,
      country,
      subs,
      ref,
    });
  }
  for (let i = 0; i < clicks.length; i += 50) {
    const batch = clicks.slice(i, i + 50);
    await h.sql`insert into clicks ${h.sql(
      batch.map((c) => ({
        click_id: c.click_id,
        clicked_at: new Date(c.clicked_at),
        link_id: c.link_id,
        offer_id: c.offer_id,
        affiliate_id: c.affiliate_id,
        brand_id: c.brand_id,
        subs: h.sql.json(c.subs),
        is_unique: c.is_unique,
        country: c.country ?? null,
      })) as never,
    )}`;
    clickEvents.push(batch.map(({ subs: _s, ref: _r, ...c }) => c));
  }

  // Conversions on a third of the clicks, some with later status changes, each with its ledger.
  let tx = 0;
  for (const c of clicks.filter(() => rand() < 0.33)) {
    const event = pick(["registration", "ftd"] as const);
    const occurred = new Date(Date.parse(c.clicked_at) + Math.floor(rand() * 5 * HOUR));
    const amount = event === "ftd" ? pick(["50.00", "100.50", "20.25"]) : null;
    const path: ConversionStatus[] = pick([
      ["approved"],
      ["pending"],
      ["pending", "approved"],
      ["pending", "rejected"],
      ["approved", "reversed"],
    ]);
    const [receipt] = await h.sql`
      insert into postback_receipts (advertiser_id, brand_id, dedup_key, click_id, txid, event, amount, currency)
      values (${c.ref.advertiser}, ${c.ref.brand}, ${`tx:t${tx}|${event}|`}, ${c.click_id}, ${`t${tx}`}, ${event}, ${amount}, 'EUR')
      returning id`;
    const [conv] = await h.sql`
      insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event, status, amount, currency, occurred_at, receipt_id)
      values (${c.ref.advertiser}, ${c.ref.brand}, ${c.ref.offer}, ${c.ref.affiliate}, ${c.ref.link}, ${c.click_id}, ${wholeSeconds(c.clicked_at)},
              ${`t${tx++}`}, ${event}, ${path[path.length - 1] as string}, ${amount}, 'EUR', ${occurred}, ${receipt?.id})
      returning id`;
    const id = conv?.id as string;
    let previous: ConversionStatus | null = null;
    let booked = 0;
    for (const [i, status] of path.entries()) {
      const seq = i + 1;
      const change: ConversionChanged = {
        conversion_id: id,
        seq,
        status,
        previous_status: previous,
        advertiser_id: c.ref.advertiser,
        brand_id: c.ref.brand,
        offer_id: c.ref.offer,
        affiliate_id: c.ref.affiliate,
        click_id: c.click_id,
        txid: `t${tx - 1}`,
        event,
        amount,
        payout_override: null,
        currency: "EUR",
        occurred_at: occurred.toISOString(),
      };
      conversionEvents.push(change);
      let entry: { id: string; type: "commission" | "reversal" } | null = null;
      const earning = status === "pending" || status === "approved";
      if (earning && booked === 0) {
        const payout = event === "ftd" ? "25.00" : "2.50";
        const revenue = event === "ftd" ? "40.00" : "4.00";
        const [e] = await h.sql`
          insert into ledger_entries (conversion_id, change_seq, affiliate_id, offer_id, type, payout, revenue, currency, affiliate_payout, affiliate_currency)
          values (${id}, ${seq}, ${c.ref.affiliate}, ${c.ref.offer}, 'commission', ${payout}, ${revenue}, 'EUR', ${payout}, 'EUR') returning id`;
        entry = { id: e?.id as string, type: "commission" };
        booked = 1;
      } else if (!earning && booked === 1) {
        const [e] = await h.sql`
          insert into ledger_entries (conversion_id, change_seq, affiliate_id, offer_id, type, payout, revenue, currency, affiliate_payout, affiliate_currency)
          select ${id}, ${seq}, ${c.ref.affiliate}, ${c.ref.offer}, 'reversal', -sum(payout), -sum(revenue), 'EUR', -sum(payout), 'EUR'
          from ledger_entries where conversion_id = ${id} returning id`;
        entry = { id: e?.id as string, type: "reversal" };
        booked = 2;
      }
      commissionEvents.push({
        conversion_id: id,
        seq,
        entry_id: entry?.id ?? null,
        entry_type: entry?.type ?? null,
        status,
        affiliate_id: c.ref.affiliate,
        offer_id: c.ref.offer,
        brand_id: c.ref.brand,
        click_id: c.click_id,
        txid: change.txid,
        event,
        amount,
        payout: "0",
        currency: "EUR",
        occurred_at: change.occurred_at,
      });
      previous = status;
    }
  }
}

/** Attribution stores the click time the click ID carries: whole seconds. */
function wholeSeconds(iso: string): Date {
  return new Date(Math.floor(Date.parse(iso) / 1000) * 1000);
}

function shuffle<T>(xs: T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

beforeAll(async () => {
  h = await adminHarness("reports");
  P1 = await program(h, "rep-one");
  P2 = await program(h, "rep-two");
  testAffiliate = await h.ok("POST", "/v1/affiliates", { name: "Validation", is_test: true });
  testLink = await h.ok("POST", "/v1/links", { offer_id: P1.offer.id, affiliate_id: testAffiliate.id });
  await generate();
  // The consumers' work: every message once, in any order, some delivered twice (redelivery).
  for (const [i, batch] of clickEvents.entries()) {
    await deliver("reports-clicks", `clicks:${i}`, { clicks: batch }, foldClicks);
    if (i % 3 === 0) await deliver("reports-clicks", `clicks:${i}`, { clicks: batch }, foldClicks);
  }
  for (const c of shuffle(conversionEvents)) {
    const r = await deliver("reports-conversions", `conv:${c.conversion_id}:${c.seq}`, c, foldConversion);
    expect(r.duplicate).toBe(false);
    if (rand() < 0.2)
      expect(
        (await deliver("reports-conversions", `conv:${c.conversion_id}:${c.seq}`, c, foldConversion))
          .duplicate,
      ).toBe(true);
  }
  for (const b of shuffle(commissionEvents)) {
    await deliver("reports-commissions", `comm:${b.conversion_id}:${b.seq}`, b, foldCommission);
    if (rand() < 0.2)
      await deliver("reports-commissions", `comm:${b.conversion_id}:${b.seq}`, b, foldCommission);
  }
}, 120_000);

afterAll(async () => {
  await h?.cleanup();
});

type Row = Record<string, unknown>;
const period = "from=2026-03-09&to=2026-03-14";

/** The same figures straight from the raw tables (test affiliates excluded). */
async function rawFigures(tz: string, dims: "day,offer,affiliate,event" | "sub1,sub2") {
  const byDay = dims.startsWith("day");
  const clickKey = byDay
    ? h.sql`to_char(c.clicked_at at time zone ${tz}, 'YYYY-MM-DD') as day, c.offer_id, c.affiliate_id`
    : h.sql`coalesce(c.subs->>'sub1', '') as sub1, coalesce(c.subs->>'sub2', '') as sub2`;
  const convKey = byDay
    ? h.sql`to_char(v.occurred_at at time zone ${tz}, 'YYYY-MM-DD') as day, v.offer_id, v.affiliate_id, v.event`
    : h.sql`coalesce(k.subs->>'sub1', '') as sub1, coalesce(k.subs->>'sub2', '') as sub2`;
  const n = byDay ? 3 : 2;
  const groupClicks = h.sql.unsafe(Array.from({ length: n }, (_, i) => i + 1).join(", "));
  const groupConv = h.sql.unsafe(Array.from({ length: byDay ? 4 : 2 }, (_, i) => i + 1).join(", "));
  const clicks = await h.sql`
    select ${clickKey}, count(*)::int as clicks, count(*) filter (where c.is_unique)::int as unique_clicks
    from clicks c join affiliates a on a.id = c.affiliate_id where not a.is_test group by ${groupClicks}`;
  const conversions = await h.sql`
    select ${convKey}, count(*)::int as conversions,
      count(*) filter (where v.status = 'approved')::int as approved, count(*) filter (where v.status = 'pending')::int as pending,
      count(*) filter (where v.status = 'rejected')::int as rejected, count(*) filter (where v.status = 'reversed')::int as reversed,
      coalesce(sum(v.amount), 0)::numeric(20,2)::text as amount,
      coalesce(sum((select sum(payout) from ledger_entries e where e.conversion_id = v.id)), 0)::numeric(20,2)::text as payout,
      coalesce(sum((select sum(revenue) from ledger_entries e where e.conversion_id = v.id)), 0)::numeric(20,2)::text as revenue
    from conversions v join clicks k on k.click_id = v.click_id and k.clicked_at >= v.clicked_at and k.clicked_at < v.clicked_at + interval '1 second'
    where not v.is_test group by ${groupConv}`;
  return { clicks: [...clicks], conversions: [...conversions] };
}

describe("the performance report equals the raw data", () => {
  test("by day (in the brand's time zone), offer, affiliate and event", async () => {
    const report = await h.call<{ rows: Row[]; tz: string }>(
      "GET",
      `/v1/reports/performance?${period}&group_by=day,offer,affiliate,event&brand_id=${P1.brand.id}`,
      h.keys.analyst,
    );
    expect(report.status).toBe(200);
    expect(report.body.tz).toBe("brand");
    const raw = await rawFigures("Europe/Malta", "day,offer,affiliate,event");
    const p1 = (r: Row) => r.offer_id === P1.offer.id;
    // Conversion figures, row for row.
    const got = report.body.rows
      .filter((r) => r.event !== null)
      .map((r) => ({
        day: r.day,
        offer_id: r.offer_id,
        affiliate_id: r.affiliate_id,
        event: r.event,
        conversions: r.conversions,
        approved: r.approved,
        pending: r.pending,
        rejected: r.rejected,
        reversed: r.reversed,
        amount: r.amount,
        payout: r.payout,
        revenue: r.revenue,
      }));
    const want = raw.conversions.filter(p1).map((r) => ({ ...r }));
    const key = (r: Row) => `${r.day}|${r.offer_id}|${r.affiliate_id}|${r.event}`;
    expect(got.sort((a, b) => key(a).localeCompare(key(b)))).toEqual(
      want.sort((a, b) => key(a).localeCompare(key(b))) as never,
    );
    expect(got.length).toBeGreaterThan(3);
    // Clicks: each event row carries its group's clicks; groups without conversions show event null.
    const clicksByGroup = new Map<string, number>();
    for (const r of report.body.rows)
      clicksByGroup.set(`${r.day}|${r.offer_id}|${r.affiliate_id}`, r.clicks as number);
    for (const c of raw.clicks.filter(p1))
      expect(clicksByGroup.get(`${c.day}|${c.offer_id}|${c.affiliate_id}`)).toBe(c.clicks as number);
    // Test traffic is nowhere.
    expect(report.body.rows.some((r) => r.affiliate_id === testAffiliate.id)).toBe(false);
    // Two calendar days in Malta are covered by the 36 hours of data.
    expect(new Set(report.body.rows.map((r) => r.day)).size).toBeGreaterThanOrEqual(2);
  });

  test("the same clicks by hour and by day, in the brand's zone and in a fixed zone", async () => {
    const expectClicks = async (path: string, tz: string, format: string, key: string, minRows = 2) => {
      const report = await h.call<{ rows: Row[] }>("GET", path, h.keys.admin);
      expect(report.status, report.text).toBe(200);
      const raw = await h.sql`
        select to_char(c.clicked_at at time zone ${tz}, ${format}) as k, count(*)::int as clicks
        from clicks c join affiliates a on a.id = c.affiliate_id where not a.is_test group by 1 order by 1`;
      const got = report.body.rows
        .filter((r) => r.clicks !== 0)
        .map((r) => ({ k: r[key], clicks: r.clicks }));
      expect(got).toEqual(raw.map((r) => ({ k: r.k, clicks: r.clicks })) as never);
      expect(got.length).toBeGreaterThanOrEqual(minRows);
    };
    await expectClicks(
      `/v1/reports/performance?${period}&group_by=hour`,
      "Europe/Malta",
      'YYYY-MM-DD"T"HH24:00',
      "hour",
    );
    await expectClicks(`/v1/reports/performance?${period}&group_by=day&tz=UTC`, "UTC", "YYYY-MM-DD", "day");
    await expectClicks(
      `/v1/reports/performance?${period}&group_by=day&tz=Asia/Tokyo`,
      "Asia/Tokyo",
      "YYYY-MM-DD",
      "day",
    );
    await expectClicks(
      `/v1/reports/performance?${period}&group_by=month`,
      "Europe/Malta",
      "YYYY-MM",
      "month",
      1,
    );
  });

  test("by sub1 and sub2, with totals, CR, approval rate and profit", async () => {
    const report = await h.call<{ rows: Row[]; totals: Row[] }>(
      "GET",
      `/v1/reports/performance?${period}&group_by=sub1,sub2`,
      h.keys.admin,
    );
    const raw = await rawFigures("UTC", "sub1,sub2");
    for (const c of raw.clicks) {
      const row = report.body.rows.find((r) => r.sub1 === c.sub1 && r.sub2 === c.sub2);
      const conv = raw.conversions.find((r) => r.sub1 === c.sub1 && r.sub2 === c.sub2);
      expect(row).toMatchObject({
        clicks: c.clicks,
        unique_clicks: c.unique_clicks,
        conversions: conv?.conversions ?? 0,
        approved: conv?.approved ?? 0,
        payout: conv?.payout ?? "0.00",
        revenue: conv?.revenue ?? "0.00",
      });
      const conversions = (conv?.conversions as number) ?? 0;
      expect(row?.cr).toBe(Math.round((conversions / (c.clicks as number)) * 10_000) / 10_000);
      expect(row?.profit).toBe((Number(conv?.revenue ?? 0) - Number(conv?.payout ?? 0)).toFixed(2));
    }
    const [all] = (await h.sql`
      select count(*)::int as clicks from clicks c join affiliates a on a.id = c.affiliate_id where not a.is_test`) as unknown as [
      { clicks: number },
    ];
    expect(report.body.totals).toEqual([expect.objectContaining({ currency: "EUR", clicks: all.clicks })]);
    const approved = report.body.totals[0]?.approved as number;
    expect(report.body.totals[0]?.approval_rate).toBe(
      Math.round((approved / (report.body.totals[0]?.conversions as number)) * 10_000) / 10_000,
    );
  });

  test("every status change counted once whatever the order: statuses add up to conversions", async () => {
    const [{ bad }] = (await h.sql`
      select count(*)::int as bad from report_hourly
      where pending + approved + rejected + reversed <> conversions or pending < 0 or approved < 0`) as unknown as [
      { bad: number },
    ];
    expect(bad).toBe(0);
  });

  test("by the visitor's country, day and offer: clicks, conversions, payout and revenue as the raw data has them", async () => {
    const report = await h.call<{ rows: Row[] }>(
      "GET",
      `/v1/reports/performance?${period}&group_by=day,offer,country`,
      h.keys.analyst,
    );
    expect(report.status, report.text).toBe(200);
    const clicks = await h.sql`
      select to_char(c.clicked_at at time zone 'Europe/Malta', 'YYYY-MM-DD') as day, c.offer_id,
             coalesce(c.country, '') as country, count(*)::int as clicks,
             count(*) filter (where c.is_unique)::int as unique_clicks
      from clicks c join affiliates a on a.id = c.affiliate_id where not a.is_test group by 1, 2, 3`;
    const conversions = await h.sql`
      select to_char(v.occurred_at at time zone 'Europe/Malta', 'YYYY-MM-DD') as day, v.offer_id,
             coalesce(k.country, '') as country, count(*)::int as conversions,
             coalesce(sum((select sum(payout) from ledger_entries e where e.conversion_id = v.id)), 0)::numeric(20,2)::text as payout,
             coalesce(sum((select sum(revenue) from ledger_entries e where e.conversion_id = v.id)), 0)::numeric(20,2)::text as revenue
      from conversions v join clicks k on k.click_id = v.click_id and k.clicked_at >= v.clicked_at and k.clicked_at < v.clicked_at + interval '1 second'
      where not v.is_test group by 1, 2, 3`;
    const key = (r: Row) => `${r.day}|${r.offer_id}|${r.country}`;
    const want = new Map<string, Row>();
    for (const c of clicks) want.set(key(c), { clicks: c.clicks, unique_clicks: c.unique_clicks });
    for (const c of conversions)
      want.set(key(c), {
        clicks: 0,
        unique_clicks: 0,
        ...want.get(key(c)),
        conversions: c.conversions,
        payout: c.payout,
        revenue: c.revenue,
      });
    const got = new Map<string, Row>(
      report.body.rows.map((r) => [
        key(r),
        {
          clicks: r.clicks,
          unique_clicks: r.unique_clicks,
          ...(r.conversions ? { conversions: r.conversions, payout: r.payout, revenue: r.revenue } : {}),
        },
      ]),
    );
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(want));
    expect(new Set(report.body.rows.map((r) => r.country))).toEqual(new Set(["GB", "DE", "MT", ""]));
    // A filter on one country; an affiliate sees its own, without revenue.
    const gb = await h.call<{ rows: Row[] }>(
      "GET",
      `/v1/reports/performance?${period}&group_by=offer&country=GB&offer_id=${P1.offer.id}`,
      h.keys.analyst,
    );
    expect(gb.body.rows[0]?.clicks).toBe(
      clicks
        .filter((c) => c.country === "GB" && c.offer_id === P1.offer.id)
        .reduce((n, c) => n + c.clicks, 0),
    );
    // Country is a rollup of its own, by the brand's day: no hour, event, sub ID or fixed zone with it.
    for (const [query, field] of [
      ["group_by=hour,country", "hour"],
      ["group_by=country,event", "event"],
      ["group_by=country&sub1=news", "sub1"],
      ["group_by=country&tz=UTC", "tz"],
    ] as const) {
      const refused = await h.call("GET", `/v1/reports/performance?${period}&${query}`, h.keys.analyst);
      expect(refused.status).toBe(400);
      expect(refused.text).toContain(field);
    }
  });

  test("CSV export of the report has the same rows", async () => {
    const json = await h.call<{ rows: Row[] }>(
      "GET",
      `/v1/reports/performance?${period}&group_by=day,offer`,
      h.keys.admin,
    );
    const csv = await h.call(
      "GET",
      `/v1/reports/performance?${period}&group_by=day,offer&format=csv`,
      h.keys.admin,
    );
    expect(csv.headers.get("content-type")).toContain("text/csv");
    const lines = csv.text.trim().split("\n");
    expect(lines[0]?.split(",").slice(0, 4)).toEqual(["day", "offer_id", "currency", "clicks"]);
    expect(lines.length - 1).toBe(json.body.rows.length);
    expect(lines[1]).toContain(String(json.body.rows[0]?.clicks));
  });

  test("an affiliate key gets its own figures without revenue", async () => {
    const key = await h.affiliateKey(P2.affiliate.id);
    const report = await h.call<{ rows: Row[] }>(
      "GET",
      `/v1/reports/performance?${period}&group_by=affiliate`,
      key,
    );
    expect(report.body.rows.map((r) => r.affiliate_id)).toEqual([P2.affiliate.id]);
    expect(report.body.rows[0]).not.toHaveProperty("revenue");
  });
});

describe("raw conversion export", () => {
  test("streams every matching conversion with its net payout", async () => {
    const csv = await h.call(
      "GET",
      `/v1/conversions/export?offer_id=${P1.offer.id}&is_test=false`,
      h.keys.admin,
    );
    const lines = csv.text.trim().split("\n");
    const [{ n }] =
      (await h.sql`select count(*)::int as n from conversions where offer_id = ${P1.offer.id} and not is_test`) as unknown as [
        { n: number },
      ];
    expect(lines.length - 1).toBe(n);
    expect(lines[0]).toStartWith("id,occurred_at,created_at,brand_id");
  });
});

describe("postback quality from the folded log", () => {
  test("closed hours fold once (idempotently), the open hour is read live, rejections by reason", async () => {
    const now = new Date();
    const hoursAgo = (n: number) => new Date(Math.floor(now.getTime() / HOUR) * HOUR - n * HOUR + 60_000);
    const rows: [Date, string, string | null, number][] = [
      [hoursAgo(3), "accepted", null, 200],
      [hoursAgo(3), "accepted", null, 200],
      [hoursAgo(3), "duplicate", null, 200],
      [hoursAgo(3), "unauthorized", "bad_token", 401],
      [hoursAgo(2), "invalid", "unreplaced_macro", 400],
      [hoursAgo(2), "accepted", null, 200],
      [new Date(now.getTime() - 1_000), "accepted", null, 200],
      [new Date(now.getTime() - 1_000), "unknown_click", "click_id_bad_signature", 422],
    ];
    for (const [at, outcome, reason, status] of rows) {
      await h.sql`insert into postback_log (received_at, advertiser_id, source, method, params, outcome, reason, http_status)
                  values (${at}, ${P1.advertiser.id}, 's2s', 'GET', '{}', ${outcome}, ${reason}, ${status})`;
    }
    const [r] = await h.sql`select id from postback_receipts limit 1`;
    await h.sql`insert into attribution_rejections (receipt_id, advertiser_id, event, reason, at)
                values (${r?.id}, ${P1.advertiser.id}, 'ftd', 'outside_window', ${hoursAgo(2)})`;

    const q = `/v1/reports/postbacks?from=${hoursAgo(5).toISOString()}&to=${new Date(now.getTime() + HOUR).toISOString()}&group_by=advertiser&advertiser_id=${P1.advertiser.id}`;
    const before = await h.call<{ rows: Row[] }>("GET", q, h.keys.analyst);
    expect(await foldPostbackLog(h.sql, { now })).toBeGreaterThanOrEqual(2);
    expect(await foldPostbackLog(h.sql, { now })).toBe(0);
    const [{ folded }] =
      (await h.sql`select count(*)::int as folded from report_postbacks_hourly`) as unknown as [
        { folded: number },
      ];
    expect(folded).toBeGreaterThan(0);
    const after = await h.call<{ rows: Row[] }>("GET", q, h.keys.analyst);
    expect(after.body).toEqual(before.body);
    expect(after.body.rows).toEqual([
      expect.objectContaining({
        advertiser_id: P1.advertiser.id,
        requests: 8,
        accepted: 4,
        duplicates: 1,
        rejected: 3,
        attribution_rejected: 1,
        rejected_by_reason: {
          bad_token: 1,
          unreplaced_macro: 1,
          click_id_bad_signature: 1,
          "attribution:outside_window": 1,
        },
        duplicate_rate: 0.2,
        success_rate: 0.625,
      }),
    ]);
  });
});

describe("S2S vs pixel", () => {
  test("flags an offer whose pixel count falls more than the threshold behind S2S", async () => {
    const at = new Date(Date.now() - 60_000);
    const report = async (threshold: string) =>
      (
        await h.call<{ rows: Row[] }>(
          "GET",
          `/v1/reports/s2s-vs-pixel?from=${new Date(Date.now() - HOUR).toISOString()}&threshold=${threshold}`,
          h.keys.admin,
        )
      ).body.rows;
    const hit = async (p: Program, n: number, sources: string[]) => {
      for (let i = 0; i < n; i++) {
        const clickId = h.codec.mint(Number(p.link.id), at);
        const [receipt] = await h.sql`
          insert into postback_receipts (advertiser_id, brand_id, dedup_key, source, click_id, event)
          values (${p.advertiser.id}, ${p.brand.id}, ${`click:${clickId}|ftd|`}, ${sources[0] as string}, ${clickId}, 'ftd') returning id`;
        for (const [k, source] of sources.entries()) {
          await h.sql`insert into postback_log (received_at, advertiser_id, source, method, params, outcome, http_status, receipt_id)
                      values (${at}, ${p.advertiser.id}, ${source}, 'GET', '{}', ${k === 0 ? "accepted" : "duplicate"}, 200, ${receipt?.id})`;
        }
      }
    };
    await hit(P1, 18, ["s2s", "pixel"]);
    await hit(P1, 2, ["s2s"]);
    await hit(P2, 10, ["s2s"]);
    const rows = await report("0.05");
    expect(rows.find((r) => r.offer_id === P1.offer.id)).toMatchObject({
      conversions: 20,
      s2s: 20,
      pixel: 18,
      both: 18,
      gap_share: 0.1,
      comparable: true,
      flagged: true,
    });
    expect(rows.find((r) => r.offer_id === P2.offer.id)).toMatchObject({
      s2s: 10,
      pixel: 0,
      comparable: false,
      flagged: false,
    });
    expect((await report("0.15")).find((r) => r.offer_id === P1.offer.id)?.flagged).toBe(false);
  });
});

describe("outbound delivery report", () => {
  test("success rate over settled deliveries, pending apart", async () => {
    const convs =
      await h.sql`select id, affiliate_id from conversions where affiliate_id = ${P2.affiliate.id} and not is_test order by id limit 4`;
    const tpl = await h.ok<{ id: string }>("POST", "/v1/affiliate-postbacks", {
      affiliate_id: P2.affiliate.id,
      url_template: "https://p2.example/pb?c={click_id}",
    });
    const statuses = ["delivered", "delivered", "dead", "pending"];
    for (const [i, c] of convs.entries()) {
      await h.sql`insert into deliveries (conversion_id, change_seq, template_id, affiliate_id, method, url, status, attempts)
                  values (${c.id}, 1, ${tpl.id}, ${c.affiliate_id}, 'GET', 'https://p2.example/pb', ${statuses[i] as string}, ${i + 1})`;
    }
    const r = await h.call<{ rows: Row[] }>(
      "GET",
      `/v1/reports/deliveries?group_by=affiliate&affiliate_id=${P2.affiliate.id}`,
      h.keys.admin,
    );
    expect(r.body.rows).toEqual([
      expect.objectContaining({
        affiliate_id: P2.affiliate.id,
        deliveries: 4,
        delivered: 2,
        dead: 1,
        pending: 1,
        attempts: 10,
        success_rate: 0.6667,
      }),
    ]);
  });
});
