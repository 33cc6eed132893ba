/**
 * The hot paths against bare baselines, in one run on one machine (bench/README.md):
 *   click redirect (click durably recorded)  vs  a bare Bun.serve 302
 *   click redirect with its broker stopped   vs  the click redirect (batches go to PostgreSQL)
 *   click redirect of an offer with conversion and payout caps  vs  the click redirect
 *   postback intake (committed before 200)   vs  a bare PostgreSQL insert-and-commit
 * and what the whole pipeline sustains behind them (bench/pipeline.ts, all six services):
 *   clickStored  redirects at full speed for --sustained seconds, and the rate their rows reach PostgreSQL
 *   e2e          postback → affiliate postback latency at --e2e-rate postbacks/s for --e2e-seconds
 * Prints req/s, p50, p99 and the ratios. Needs `wrk` (Debian: apt-get install wrk), PostgreSQL
 * and NATS (DATABASE_URL / NATS_URL, defaults 127.0.0.1).
 *
 *   bun bench/run.ts [--duration 10] [--warmup 3] [--connections 50] [--rounds 1] [--threads 2]
 *                    [--sustained 60] [--e2e-rate 100] [--e2e-seconds 60]
 *                    [--only bare302,click,clickCapped,clickBrokerDown,bareInsert,postback,clickStored,e2e]
 */
import { spawn, spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { ClickIdCodec } from "@roundtrip/clickid";
import { createTestDatabase } from "@roundtrip/db";
import { freePorts, NatsServer, startStack } from "@roundtrip/stack";
import { measurePipeline, type PipelineResult } from "./pipeline.ts";
import { deleteStreams } from "./streams.ts";

const { values: args } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: "50" },
    threads: { type: "string", default: "2" },
    rounds: { type: "string", default: "1" },
    only: { type: "string", default: "" },
    sustained: { type: "string", default: "60" },
    "e2e-rate": { type: "string", default: "100" },
    "e2e-seconds": { type: "string", default: "60" },
  },
});
const only = (args.only as string).split(",").filter(Boolean);
const wants = (name: string) => only.length === 0 || only.includes(name);
const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const CLICK_ID_KEYS = `bench:${"b".repeat(40)}`;
const TOKEN = "bench_token_abcdefghijklmnopqrstuvwxyz";
const here = import.meta.dir;

type Result = {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  load: number;
};

if (spawnSync("wrk", ["--version"]).error) {
  console.error("wrk is not installed (Debian: apt-get install -y wrk)");
  process.exit(1);
}

const db = await createTestDatabase("bench");
const busPrefix = `bench_${crypto.randomUUID().slice(0, 8)}`;
const children: ReturnType<typeof spawn>[] = [];
let stack: Awaited<ReturnType<typeof startStack<"click" | "gateway">>> | undefined;
// A second click service on a broker of its own, stopped before it is measured: the outage path.
let outage: { nats: NatsServer; stack?: Awaited<ReturnType<typeof startStack<"click">>> } | undefined;

try {
  const sql = db.sql;
  const [brand] =
    await sql`insert into brands (slug, name, currency) values ('bench', 'Bench', 'EUR') returning id`;
  const [adv] = await sql`insert into advertisers (brand_id, name, token_hash, rate_limit_per_second)
    values (${brand?.id}, 'Bench', ${new Bun.CryptoHasher("sha256").update(TOKEN).digest("hex")}, 1000000) returning id`;
  const [offer] = await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency)
    values (${brand?.id}, ${adv?.id}, 'Bench', 'https://casino.example/landing?cid={click_id}&s1={sub1}', 'EUR') returning id`;
  await sql`insert into offer_events (offer_id, code) values (${offer?.id}, 'ftd')`;
  const [aff] = await sql`insert into affiliates (name) values ('Bench') returning id`;
  const [link] =
    await sql`insert into links (code, offer_id, affiliate_id) values ('bench', ${offer?.id}, ${aff?.id}) returning id`;
  const clickId = ClickIdCodec.fromSpec(CLICK_ID_KEYS).mint(Number(link?.id));
  // An offer with conversion and payout caps (far from full): each click reads their counters (docs/routing.md).
  const [capped] = await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency,
                                                 payout_cap_daily, fallback_url)
    values (${brand?.id}, ${adv?.id}, 'Capped', 'https://casino.example/landing?cid={click_id}&s1={sub1}', 'EUR',
            1000000, 'https://fallback.example/?cid={click_id}') returning id`;
  await sql`insert into offer_events (offer_id, code, cap_daily) values (${capped?.id}, 'ftd', 1000000)`;
  await sql`insert into links (code, offer_id, affiliate_id) values ('capped', ${capped?.id}, ${aff?.id})`;

  stack = await startStack({
    databaseUrl: db.url,
    natsUrl: NATS_URL,
    busPrefix,
    ports: "free",
    services: ["click", "gateway"] as const,
    env: { CLICK_ID_KEYS, LOG_LEVEL: "warn", SHUTDOWN_TIMEOUT_MS: "5000" },
  });
  if (wants("clickBrokerDown")) {
    outage = { nats: new NatsServer() };
    await outage.nats.start();
    outage.stack = await startStack({
      databaseUrl: db.url,
      natsUrl: outage.nats.url,
      busPrefix: `${busPrefix}_down`,
      ports: "free",
      services: ["click"] as const,
      migrate: false,
      env: { CLICK_ID_KEYS, LOG_LEVEL: "error", SHUTDOWN_TIMEOUT_MS: "5000" },
    });
    await outage.nats.stop();
  }
  // Free ports, not fixed ones: with fixed ports a second run on the machine (another session's)
  // fails to bind its baselines and silently measures the first run's, under that run's load.
  const [barePort, insertPort] = freePorts(2);
  startChild("bare-302.ts", barePort as number, {});
  startChild("bare-insert.ts", insertPort as number, { DATABASE_URL: db.url });
  await Promise.all([
    waitHttp(`http://127.0.0.1:${barePort}/`),
    waitHttp(`http://127.0.0.1:${insertPort}/?k=warm`),
  ]);

  const targets = {
    bare302: { url: `http://127.0.0.1:${barePort}/c/bench?sub1=news`, lua: null },
    click: { url: `${stack.urls.click}/c/bench?sub1=news`, lua: null },
    clickCapped: { url: `${stack.urls.click}/c/capped?sub1=news`, lua: null },
    clickBrokerDown: { url: `${outage?.stack?.urls.click}/c/bench?sub1=news`, lua: null },
    bareInsert: { url: `http://127.0.0.1:${insertPort}`, lua: "/?k={n}" },
    postback: {
      url: stack.urls.gateway,
      lua: `/postback?click_id=${clickId}&event=ftd&amount=10.00&token=${TOKEN}&txid={n}`,
    },
  };

  const rounds: Record<string, Result>[] = [];
  for (let round = 1; round <= Number(args.rounds); round++) {
    const results: Record<string, Result> = {};
    for (const [name, t] of Object.entries(targets)) {
      if (!wants(name)) continue;
      // Each target starts from a settled database: the previous one's writes are checkpointed
      // and vacuumed now, not by autovacuum in the middle of this measurement.
      await sql`checkpoint`;
      await sql`vacuum (analyze) clicks, bus_outbox, postback_receipts, postback_log, bench_bare_insert`.catch(
        () => {},
      );
      wrk(t.url, t.lua, Number(args.warmup));
      results[name] = { ...wrk(t.url, t.lua, Number(args.duration)), name };
    }
    rounds.push(results);
    if (Object.keys(results).length > 0) report(round, results);
  }

  // Clicks are recorded as CLICKS batches in JetStream (attribution, not started here, stores the
  // rows); a batch whose publish failed is written to PostgreSQL instead.
  const clicks = await sql`select count(*)::int as n from clicks`;
  const receipts = await sql`select count(*)::int as n from postback_receipts`;
  const nc = await connect({ servers: NATS_URL });
  const batches = (await (await jetstreamManager(nc)).streams.info(`${busPrefix}_CLICKS`)).state.messages;
  await nc.close();
  console.log(
    `\ndurability: ${batches} CLICKS batches in JetStream, ${clicks[0]?.n} click rows written by the PostgreSQL fallback, ${receipts[0]?.n} postback receipts committed (warm-ups included)`,
  );
  if (rounds.length > 1) spread(rounds);
  await stack.stop();
  await outage?.stack?.stop();

  // Behind the bursts: the whole pipeline, on a stack of its own (the click and gateway above
  // run without attribution, commission and delivery, so they measure only their own write).
  if (wants("clickStored") || wants("e2e"))
    pipelineReport(
      await measurePipeline({
        storedSeconds: wants("clickStored") ? Number(args.sustained) : 0,
        e2eRate: wants("e2e") ? Number(args["e2e-rate"]) : 0,
        e2eSeconds: Number(args["e2e-seconds"]),
        burst: (url, seconds, userAgent) => wrk(url, null, seconds, [`User-Agent: ${userAgent}`]),
      }),
    );
} finally {
  for (const c of children) c.kill("SIGTERM");
  await stack?.stop();
  await outage?.stack?.stop();
  await outage?.nats.dispose();
  await deleteStreams(NATS_URL, busPrefix);
  await db.drop();
}

function startChild(file: string, port: number, env: Record<string, string>) {
  const child = spawn(process.execPath, [join(here, file)], {
    env: { ...process.env, PORT: String(port), ...env },
    stdio: "ignore",
  });
  children.push(child);
  return child;
}

async function waitHttp(url: string) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      await fetch(url, { redirect: "manual" });
      return;
    } catch {
      await Bun.sleep(100);
    }
  }
  throw new Error(`${url} did not answer`);
}

function wrk(
  url: string,
  path: string | null,
  seconds: number,
  headers: string[] = [],
): Omit<Result, "name"> {
  const load = loadavg()[0] ?? 0;
  const cmd = [
    "-t",
    args.threads as string,
    "-c",
    args.connections as string,
    "-d",
    `${seconds}s`,
    "--latency",
    ...headers.flatMap((h) => ["-H", h]),
  ];
  if (path) cmd.push("-s", join(here, "unique.lua"), url, "--", path);
  else cmd.push(url);
  const out = spawnSync("wrk", cmd, { encoding: "utf8" }).stdout;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const errors =
    Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) +
    Number(/Socket errors:.*timeout (\d+)/.exec(out)?.[1] ?? 0);
  return { rps, p50: latency(out, "50%"), p99: latency(out, "99%"), requests, errors, load };
}

function latency(out: string, pct: string): number {
  const m = new RegExp(`${pct}\\s+([\\d.]+)(us|ms|s)`).exec(out);
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
}

function report(round: number, r: Record<string, Result>) {
  const line = (x: Result) =>
    `${x.name.padEnd(12)} ${x.rps.toFixed(0).padStart(8)} req/s   p50 ${x.p50.toFixed(2).padStart(6)} ms   p99 ${x.p99.toFixed(2).padStart(6)} ms   ${x.errors ? `errors ${x.errors}   ` : ""}load ${x.load.toFixed(2)}`;
  console.log(
    `\nround ${round} — ${args.connections} connections, ${args.threads} wrk threads, ${args.duration} s each`,
  );
  for (const x of Object.values(r)) console.log(line(x));
  // A ratio is printed only when both of its targets ran (`--only` may have skipped one).
  const ratio = (label: string, a: Result | undefined, b: Result | undefined, target: string) => {
    if (a && b?.rps) console.log(`${label.padEnd(28)}${((100 * a.rps) / b.rps).toFixed(1)} %  (${target})`);
  };
  ratio("click / bare 302:", r.click, r.bare302, "target ≥ 35 % at p99 ≤ 5 ms, 50 connections");
  ratio("click, broker down / click:", r.clickBrokerDown, r.click, "target p99 ≤ 50 ms");
  ratio("click, capped offer / click:", r.clickCapped, r.click, "one PostgreSQL read a click");
  ratio("postback / bare insert:", r.postback, r.bareInsert, "target ≥ 10 000/s at p99 ≤ 20 ms");
}

function pipelineReport(p: PipelineResult) {
  const s = p.stored;
  if (s)
    console.log(
      `\nclickStored  ${s.seconds} s of redirects at ${args.connections} connections: ${s.redirects.rps.toFixed(0)} redirects/s (p99 ${s.redirects.p99.toFixed(2)} ms), ` +
        `${s.storedPerSecond.toFixed(0)} clicks/s stored in PostgreSQL in the same ${s.seconds} s ` +
        `(${((100 * s.storedPerSecond) / (s.redirects.rps || 1)).toFixed(1)} % of the redirects); ` +
        (s.drainSeconds !== undefined
          ? `the rest stored ${s.drainSeconds.toFixed(0)} s after the last redirect`
          : `${s.leftUnstored} still unstored ${s.seconds} s after the last redirect`),
    );
  const e = p.e2e;
  if (e)
    console.log(
      `e2e          postback → affiliate postback at ${e.rate} signed postbacks/s for ${e.seconds} s: ` +
        `p50 ${e.p50.toFixed(0)} ms, p99 ${e.p99.toFixed(0)} ms, max ${e.max.toFixed(0)} ms (${e.delivered} of ${e.acknowledged} acknowledged delivered)`,
    );
}

function spread(rounds: Record<string, Result>[]) {
  console.log("\nspread over rounds (min … max):");
  for (const name of Object.keys(rounds[0] ?? {})) {
    const rps = rounds.map((r) => r[name]?.rps ?? 0);
    const p99 = rounds.map((r) => r[name]?.p99 ?? 0);
    console.log(
      `${name.padEnd(12)} ${Math.min(...rps).toFixed(0)} … ${Math.max(...rps).toFixed(0)} req/s   p99 ${Math.min(...p99).toFixed(2)} … ${Math.max(...p99).toFixed(2)} ms`,
    );
  }
}
