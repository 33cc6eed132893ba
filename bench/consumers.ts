/**
 * How fast the consumers behind the redirect store clicks (bench/README.md, "Consumers"):
 * a backlog of CLICKS batches is published first, exactly as the click service publishes them
 * (one message per batch, `Nats-Msg-Id` = `clicks:<first click ID>`), then attribution and admin
 * (attribution-clicks stores the rows and the hourly rollup, reports-clicks folds the report
 * rollup) are started and the stored clicks are sampled until the backlog is gone. Prints clicks
 * stored per second (sustained, from the first stored click to the last) and the inbox rows
 * written per click, for each batch size asked for. With `--postbacks N`, the same for a backlog
 * of N accepted postbacks through attribution (conversions) and commission (bookings): the
 * consumers whose transactions write outbox events, and the SQL statements their database ran
 * per postback (pg_stat_statements, when the server loads it; `--statements` lists the busiest).
 * Needs PostgreSQL and NATS (DATABASE_URL / NATS_URL, defaults 127.0.0.1).
 *
 *   bun bench/consumers.ts [--clicks 40000] [--per-message 1,17] [--links 50] [--postbacks 0] [--statements]
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers } from "@nats-io/transport-node";
import { ClickIdCodec } from "@roundtrip/clickid";
import { createTestDatabase, type Sql } from "@roundtrip/db";
import { type ServiceName, startStack } from "@roundtrip/stack";
import { deleteStreams } from "./streams.ts";

const { values: args } = parseArgs({
  options: {
    clicks: { type: "string", default: "40000" },
    "per-message": { type: "string", default: "1,17" },
    links: { type: "string", default: "50" },
    postbacks: { type: "string", default: "0" },
    statements: { type: "boolean", default: false },
  },
});
const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const CLICK_ID_KEYS = `bench:${"b".repeat(40)}`;
const total = Number(args.clicks);
const sizes = (args["per-message"] as string).split(",").map(Number);

type Figure = { perMessage: number; clicks: number; seconds: number; rate: number; inboxPerClick: number };
const figures: Figure[] = [];
for (const perMessage of sizes.filter((n) => n > 0 && total > 0)) figures.push(await measure(perMessage));
const postbacks = Number(args.postbacks) > 0 ? await measurePostbacks(Number(args.postbacks)) : undefined;
console.log(`\nconsumers — ${total} clicks per run, attribution + admin (reports), one replica each`);
for (const f of figures)
  console.log(
    `${String(f.perMessage).padStart(3)} clicks/message: ${f.rate.toFixed(0).padStart(6)} clicks stored/s (${f.clicks} in ${f.seconds.toFixed(1)} s)   inbox rows/click ${f.inboxPerClick.toFixed(3)}`,
  );
if (postbacks)
  console.log(
    `postbacks: ${postbacks.conversions.toFixed(0)} conversions/s (attribution), ${postbacks.bookings.toFixed(0)} bookings/s (commission), ${postbacks.n} each${postbacks.statements === null ? "" : `; ${(postbacks.statements / postbacks.n).toFixed(1)} SQL statements per postback`}`,
  );

async function measure(perMessage: number): Promise<Figure> {
  const db = await createTestDatabase("bench_pipeline");
  const busPrefix = `benchp_${crypto.randomUUID().slice(0, 8)}`;
  let stack: Awaited<ReturnType<typeof startStack<"attribution" | "admin">>> | undefined;
  try {
    const links = await seed(db.sql, Number(args.links));
    // Migrate and provision only: the backlog is in the stream before any consumer pulls.
    await (await startStack({ databaseUrl: db.url, natsUrl: NATS_URL, busPrefix, services: [] })).stop();
    await publishBacklog(busPrefix, links, perMessage);
    const load = loadavg()[0] ?? 0;
    stack = await startConsumers(db.url, busPrefix, ["attribution", "admin"] as const);
    const { first, last } = await sampleUntilStored(db.sql, total);
    const seconds = (last.at - first.at) / 1000;
    const stored = last.n - first.n;
    // Inbox rows are counted once reports-clicks has drained too (it writes its own).
    await drained(busPrefix, "reports-clicks");
    const rows = await inboxRows(db.sql);
    console.log(
      `${perMessage} clicks/message: ${stored} clicks stored in ${seconds.toFixed(1)} s, ${rows} inbox rows (load ${load.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)})`,
    );
    return { perMessage, clicks: stored, seconds, rate: stored / seconds, inboxPerClick: rows / total };
  } finally {
    await stack?.stop();
    await deleteStreams(NATS_URL, busPrefix);
    await db.drop();
  }
}

async function measurePostbacks(
  n: number,
): Promise<{ n: number; conversions: number; bookings: number; statements: number | null }> {
  const db = await createTestDatabase("bench_pipeline_pb");
  const busPrefix = `benchq_${crypto.randomUUID().slice(0, 8)}`;
  let stack: Awaited<ReturnType<typeof startStack<"attribution" | "commission">>> | undefined;
  try {
    const links = await seed(db.sql, Number(args.links));
    const [offer] = await db.sql`select id, advertiser_id, brand_id from offers limit 1`;
    await db.sql`insert into offer_events (offer_id, code) values (${offer?.id}, 'ftd')`;
    await db.sql`insert into payout_rules (offer_id, event, model, payout, revenue, currency)
      values (${offer?.id}, 'ftd', 'cpa', 10, 20, 'EUR')`;
    await (await startStack({ databaseUrl: db.url, natsUrl: NATS_URL, busPrefix, services: [] })).stop();
    const codec = ClickIdCodec.fromSpec(CLICK_ID_KEYS);
    // Each postback's click is stored first, as in traffic (a postback comes minutes after its
    // click): a conversion whose click row is missing waits for it (attribution's click-wait.ts).
    const clicks = Array.from({ length: n }, (_, i) => {
      const link = links[i % links.length] as (typeof links)[number];
      const clickedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
      return { link, clickedAt, clickId: codec.mint(link.id, clickedAt) };
    });
    for (let i = 0; i < clicks.length; i += 5_000) {
      const part = clicks.slice(i, i + 5_000);
      await db.sql`
        insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, subs)
        select * , '{}'::jsonb from unnest(
          ${part.map((c) => c.clickId)}::text[], ${part.map((c) => c.clickedAt.toISOString())}::timestamptz[],
          ${part.map((c) => c.link.id)}::bigint[], ${part.map((c) => c.link.offer)}::bigint[],
          ${part.map((c) => c.link.affiliate)}::bigint[], ${part.map((c) => c.link.brand)}::bigint[])`;
    }
    const nc = await connect({ servers: NATS_URL });
    try {
      const js = jetstream(nc);
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < n; i++) {
        const { clickId } = clicks[i] as (typeof clicks)[number];
        const h = headers();
        h.set("Nats-Msg-Id", `pb:bench:${i}`);
        const at = new Date().toISOString();
        const postback = {
          receipt_id: String(i + 1),
          advertiser_id: String(offer?.advertiser_id),
          brand_id: String(offer?.brand_id),
          source: "s2s",
          click_id: clickId,
          txid: `tx${i}`,
          event: "ftd",
          status: "approved",
          amount: "100.00",
          payout: null,
          currency: "EUR",
          occurred_at: at,
          received_at: at,
        };
        pending.push(
          js.publish(`${busPrefix}.postbacks.received.${offer?.advertiser_id}`, JSON.stringify(postback), {
            headers: h,
          }),
        );
        if (pending.length >= 500) await Promise.all(pending.splice(0));
      }
      await Promise.all(pending);
    } finally {
      await nc.close();
    }
    const counting = await countStatements(db.sql);
    stack = await startConsumers(db.url, busPrefix, ["attribution", "commission"] as const);
    // Sampled side by side: commission starts booking as soon as the first conversion is out.
    const [conversions, bookings] = await Promise.all([
      sampleUntilStored(db.sql, n, "conversions"),
      sampleUntilStored(db.sql, n, "commission_changes"),
    ]);
    const rate = (r: { first: Sample; last: Sample }) =>
      (r.last.n - r.first.n) / ((r.last.at - r.first.at) / 1000);
    console.log(`${n} postbacks: load ${(loadavg()[0] ?? 0).toFixed(2)}`);
    const statements =
      counting === null ? null : await statementsRun(db.sql, Boolean(args.statements), counting);
    return { n, conversions: rate(conversions), bookings: rate(bookings), statements };
  } finally {
    await stack?.stop();
    await deleteStreams(NATS_URL, busPrefix);
    await db.drop();
  }
}

/**
 * Starts counting this database's statements (pg_stat_statements, where the server loads it):
 * every statement attribution and commission send — transactions, locks, reads, writes, their
 * outbox relays and periodic jobs — counts, this script's own sampling does not.
 */
async function countStatements(sql: Sql): Promise<string | null> {
  try {
    await sql`create extension if not exists pg_stat_statements`;
    await sql`select pg_stat_statements_reset(0, (select oid from pg_database where datname = current_database()), 0)`;
    return await evictions(sql);
  } catch (err) {
    console.log(`statements not counted: ${(err as Error).message}`);
    return null;
  }
}

/**
 * Entries the server dropped to make room (pg_stat_statements.max, shared by every database), and
 * when another client last reset every database's counts: either during a run makes it undercount.
 */
async function evictions(sql: Sql): Promise<string> {
  const [info] =
    await sql`select dealloc::text || ' ' || coalesce(stats_reset::text, '') as v from pg_stat_statements_info`;
  return String(info?.v);
}

async function statementsRun(sql: Sql, list: boolean, before: string): Promise<number | null> {
  const after = await evictions(sql);
  if (after !== before) {
    console.log(
      `statements not counted: pg_stat_statements evicted or was reset during the run (${before} → ${after})`,
    );
    return null;
  }
  const rows = await sql<{ calls: number; query: string }[]>`
    select calls::int as calls, query from pg_stat_statements
    where dbid = (select oid from pg_database where datname = current_database())
      and query not like 'select count(*)::int as n from %'
    order by calls desc`;
  if (list)
    for (const r of rows.slice(0, 40))
      console.log(`${String(r.calls).padStart(8)}  ${r.query.replace(/\s+/g, " ").slice(0, 150)}`);
  return rows.reduce((sum, r) => sum + r.calls, 0);
}

// The backlog is already in the streams: no migrate or provision, only the consumers' processes.
function startConsumers<S extends ServiceName>(
  databaseUrl: string,
  busPrefix: string,
  services: readonly S[],
) {
  return startStack({
    databaseUrl,
    natsUrl: NATS_URL,
    busPrefix,
    ports: "free",
    services,
    migrate: false,
    provision: false,
    env: { CLICK_ID_KEYS, LOG_LEVEL: "warn", SHUTDOWN_TIMEOUT_MS: "5000" },
  });
}

async function seed(
  sql: Sql,
  n: number,
): Promise<{ id: number; offer: string; affiliate: string; brand: string }[]> {
  const [brand] =
    await sql`insert into brands (slug, name, currency) values ('bench', 'Bench', 'EUR') returning id`;
  const [adv] = await sql`insert into advertisers (brand_id, name, token_hash)
    values (${brand?.id}, 'Bench', ${"0".repeat(64)}) returning id`;
  const [offer] = await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency)
    values (${brand?.id}, ${adv?.id}, 'Bench', 'https://casino.example/landing', 'EUR') returning id`;
  const out = [];
  for (let i = 0; i < n; i++) {
    const [aff] = await sql`insert into affiliates (name) values (${`Bench ${i}`}) returning id`;
    const [link] = await sql`insert into links (code, offer_id, affiliate_id)
      values (${`bench${i}`}, ${offer?.id}, ${aff?.id}) returning id`;
    out.push({
      id: Number(link?.id),
      offer: String(offer?.id),
      affiliate: String(aff?.id),
      brand: String(brand?.id),
    });
  }
  return out;
}

async function publishBacklog(
  prefix: string,
  links: Awaited<ReturnType<typeof seed>>,
  perMessage: number,
): Promise<void> {
  const codec = ClickIdCodec.fromSpec(CLICK_ID_KEYS);
  const nc = await connect({ servers: NATS_URL });
  try {
    const js = jetstream(nc);
    const pending: Promise<unknown>[] = [];
    for (let sent = 0; sent < total; sent += perMessage) {
      const clicks = Array.from({ length: Math.min(perMessage, total - sent) }, (_, i) => {
        const link = links[(sent + i) % links.length] as (typeof links)[number];
        return {
          click_id: codec.mint(link.id),
          clicked_at: new Date().toISOString(),
          link_id: String(link.id),
          offer_id: link.offer,
          affiliate_id: link.affiliate,
          brand_id: link.brand,
          is_unique: (sent + i) % 3 === 0,
          ip: "203.0.113.7",
          user_agent: "Mozilla/5.0 (bench)",
          referrer: null,
          subs: { sub1: `s${(sent + i) % 7}` },
        };
      });
      const h = headers();
      h.set("Nats-Msg-Id", `clicks:${clicks[0]?.click_id}`);
      pending.push(js.publish(`${prefix}.clicks.recorded`, JSON.stringify({ clicks }), { headers: h }));
      if (pending.length >= 500) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
  } finally {
    await nc.close();
  }
}

async function inboxRows(sql: Sql): Promise<number> {
  const [r] = await sql<{ n: number; batches: boolean }[]>`
    select (select count(*) from bus_inbox)::int as n, to_regclass('bus_inbox_batches') is not null as batches`;
  let rows = r?.n ?? 0;
  if (r?.batches) rows += Number((await sql`select count(*)::int as n from bus_inbox_batches`)[0]?.n);
  return rows;
}

async function drained(prefix: string, consumer: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    const deadline = Date.now() + 15 * 60_000;
    while (Date.now() < deadline) {
      const info = await jsm.consumers.info(`${prefix}_CLICKS`, consumer);
      if (info.num_pending + info.num_ack_pending === 0) return;
      await Bun.sleep(200);
    }
    throw new Error(`${consumer} did not drain in 15 minutes`);
  } finally {
    await nc.close();
  }
}

type Sample = { at: number; n: number };

// The rate counts from the first stored row, so start-up time is not in it.
async function sampleUntilStored(
  sql: Sql,
  expected: number,
  table: "clicks" | "conversions" | "commission_changes" = "clicks",
): Promise<{ first: Sample; last: Sample }> {
  let first: Sample | undefined;
  let last: Sample = { at: Date.now(), n: 0 };
  const deadline = Date.now() + 15 * 60_000;
  while (Date.now() < deadline) {
    const [r] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(table)}`;
    const s = { at: Date.now(), n: r?.n ?? 0 };
    if (!first && s.n > 0) first = { at: last.at, n: last.n };
    last = s;
    if (s.n >= expected) break;
    await Bun.sleep(200);
  }
  if (!first || last.n < expected)
    throw new Error(`only ${last.n} of ${expected} clicks stored in 15 minutes`);
  return { first, last };
}
