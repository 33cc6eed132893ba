/**
 * `bun bench/reports.ts [--days=90] [--pairs=600] [--clicks-per-row=40]`
 *
 * How long a report takes over a large rollup. Builds, in a scratch database, `report_hourly` rows
 * for every hour of `days` × `pairs` (offer × affiliate × sub1 combinations) — with 40 clicks a
 * row, 90 days × 600 pairs is 1.3 million rollup rows standing for about 52 million clicks — then
 * times the report queries the console and API run, through the same functions, and prints
 * p50/p95/max per query. Prints figures; asserts nothing.
 */
import { createTestDatabase } from "../packages/db/src/index.ts";
import { performanceReport } from "../services/admin/src/reports/queries.ts";

const arg = (name: string, fallback: number) => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found ? Number(found.split("=")[1]) : fallback;
};
const DAYS = arg("days", 90);
const PAIRS = arg("pairs", 600);
const CLICKS_PER_ROW = arg("clicks-per-row", 40);
const RUNS = arg("runs", 15);
const OFFERS = 20;
const AFFILIATES = Math.max(1, Math.floor(PAIRS / (OFFERS * 3)));

const db = await createTestDatabase("benchreports");
const { sql } = db;
try {
  console.log(`building: ${DAYS} days × 24 h × ${PAIRS} offer/affiliate/sub1 combinations …`);
  const t0 = performance.now();
  await sql`insert into brands (slug, name, currency, timezone) values ('bench', 'Bench', 'EUR', 'Europe/Malta')`;
  await sql`insert into advertisers (brand_id, name) values (1, 'Bench advertiser')`;
  await sql`
    insert into offers (brand_id, advertiser_id, name, destination_url, currency)
    select 1, 1, 'Offer ' || g, 'https://bench.example/?c={click_id}', 'EUR' from generate_series(1, ${OFFERS}) g`;
  await sql`insert into affiliates (name) select 'Affiliate ' || g from generate_series(1, ${AFFILIATES}) g`;
  // One click row and one conversion row (ftd) per combination and hour, as the consumers leave them.
  await sql`
    insert into report_hourly (hour, offer_id, affiliate_id, event, currency, sub1, brand_id, advertiser_id,
                               clicks, unique_clicks, conversions, approved, pending, amount, payout, revenue)
    select h, o, a, e.event, 'EUR', 's' || s, 1, 1,
           case when e.event = '' then ${CLICKS_PER_ROW} else 0 end,
           case when e.event = '' then ${Math.floor(CLICKS_PER_ROW * 0.8)} else 0 end,
           case when e.event = '' then 0 else 1 end,
           case when e.event = '' then 0 else 1 end, 0,
           case when e.event = '' then 0 else 100 end,
           case when e.event = '' then 0 else 25 end,
           case when e.event = '' then 0 else 40 end
    from generate_series(date_trunc('hour', now()) - ${DAYS} * interval '1 day', date_trunc('hour', now()), interval '1 hour') h,
         generate_series(1, ${OFFERS}) o,
         generate_series(1, ${AFFILIATES}) a,
         generate_series(1, 3) s,
         (values (''), ('ftd')) e(event)
    where (o + a + s) % 2 = 0 or e.event = ''`;
  // The daily rollup the consumers keep beside it (brand-local days).
  await sql`
    insert into report_daily
    select (r.hour at time zone b.timezone)::date, r.offer_id, r.affiliate_id, r.event, r.currency,
           r.sub1, r.sub2, r.sub3, r.sub4, r.sub5, r.brand_id, r.advertiser_id,
           sum(r.clicks), sum(r.unique_clicks), sum(r.conversions), sum(r.pending), sum(r.approved),
           sum(r.rejected), sum(r.reversed), sum(r.amount), sum(r.payout), sum(r.revenue)
    from report_hourly r join brands b on b.id = r.brand_id
    group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12`;
  await sql`analyze report_hourly`;
  await sql`analyze report_daily`;
  const [{ rows, clicks, size, daily_rows, daily_size }] = (await sql`
    select count(*)::bigint as rows, sum(clicks)::bigint as clicks,
           pg_size_pretty(pg_total_relation_size('report_hourly')) as size,
           (select count(*) from report_daily)::bigint as daily_rows,
           pg_size_pretty(pg_total_relation_size('report_daily')) as daily_size
    from report_hourly`) as unknown as [
    { rows: string; clicks: string; size: string; daily_rows: string; daily_size: string },
  ];
  console.log(
    `hourly rollup: ${Number(rows).toLocaleString("en")} rows (${size} with indexes) standing for ${Number(clicks).toLocaleString("en")} clicks`,
  );
  console.log(
    `daily rollup: ${Number(daily_rows).toLocaleString("en")} rows (${daily_size}); built in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );

  const queries: { name: string; run: () => Promise<unknown> }[] = [
    {
      name: "30 days by day (dashboard)",
      run: async () => performanceReport(sql, { from: daysAgo(30) }, ["day"], {}),
    },
    {
      name: "30 days by day, fixed zone (hourly rollup)",
      run: async () =>
        performanceReport(sql, { from: daysAgo(30), tz: "Europe/Malta" }, ["day"], { brand_id: "1" }),
    },
    {
      name: "30 days by offer × affiliate",
      run: async () => performanceReport(sql, { from: daysAgo(30) }, ["offer", "affiliate"], {}),
    },
    {
      name: "7 days by hour, one offer (hourly rollup)",
      run: async () => performanceReport(sql, { from: daysAgo(7) }, ["hour"], { offer_id: "3" }),
    },
    {
      name: `${DAYS} days by sub1 and event, one affiliate`,
      run: async () =>
        performanceReport(sql, { from: daysAgo(DAYS) }, ["sub1", "event"], { affiliate_id: "2" }),
    },
    {
      name: `${DAYS} days by month × offer (everything)`,
      run: async () => performanceReport(sql, { from: daysAgo(DAYS) }, ["month", "offer"], {}),
    },
  ];

  console.log(
    "query".padEnd(44),
    "p50 ms".padStart(8),
    "p95 ms".padStart(8),
    "max ms".padStart(8),
    "rows".padStart(7),
  );
  for (const q of queries) {
    await q.run(); // warm the cache and the plan
    const times: number[] = [];
    let result: { rows: unknown[] } = { rows: [] };
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      result = (await q.run()) as { rows: unknown[] };
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    const at = (p: number) =>
      (times[Math.min(times.length - 1, Math.floor(p * times.length))] as number).toFixed(1);
    console.log(
      q.name.padEnd(44),
      at(0.5).padStart(8),
      at(0.95).padStart(8),
      at(1).padStart(8),
      String(result.rows.length).padStart(7),
    );
  }
} finally {
  await db.drop();
}

/** A brand-local date n days back. */
function daysAgo(n: number): string {
  return new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);
}
