/**
 * Where the click redirect's CPU goes, and a before/after of a change to it on a shared machine
 * (bench/README.md, "Where the time goes (click)"). Starts the click service of each checkout
 * (`--checkouts name=path,…`; default this one) over one fresh database, each on its own stream
 * namespace of the shared nats-server, beside a bare `Bun.serve` 302 (bench/bare-302.ts), and per
 * round measures the bare 302 and then each click in turn (the order rotates every round), so a
 * neighbour's burst falls on all of them alike. Per target: req/s, p50, p99, the ratio to the
 * bare 302 of the same round, the CPU the click process and the nats-server used meanwhile (cores,
 * µs a redirect) and the clicks a CLICKS batch carried. With `--cpu-prof DIR` the first checkout's
 * click runs under Bun's `--cpu-prof` and leaves a Chrome .cpuprofile in DIR (top self times printed).
 *
 *   bun bench/click-profile.ts [--rounds 3] [--duration 10] [--warmup 3] [--connections 50] [--threads 2]
 *        [--checkouts before=/path/to/old/checkout,after=.,pipelined=.:CLICK_BATCH_CONCURRENCY=2]
 *        [--cpu-prof DIR] [--browser]
 *        [--env CLICK_BATCH_CONCURRENCY=2,…]
 */
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createTestDatabase } from "@roundtrip/db";
import { freePort, REPO_ROOT, startStack } from "@roundtrip/stack";
import { deleteStreams } from "./streams.ts";

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: "50" },
    threads: { type: "string", default: "2" },
    checkouts: { type: "string", default: `this=${REPO_ROOT}` },
    "cpu-prof": { type: "string" },
    env: { type: "string", default: "" },
    // bench/run.ts sends wrk's requests without a User-Agent; --browser sends a browser's.
    browser: { type: "boolean", default: false },
  },
});
const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const CLICK_ID_KEYS = `bench:${"b".repeat(40)}`;
const UA =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const pairs = (text: string) =>
  text
    .split(",")
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)] as const);
const extraEnv = Object.fromEntries(pairs(args.env as string));
// `name=path[:VAR=value:…]`: a checkout, and settings of its own (e.g. `pipelined=.:CLICK_BATCH_CONCURRENCY=2`).
const checkouts = pairs(args.checkouts as string).map(([name, spec]) => {
  const [path = ".", ...settings] = spec.split(":");
  return {
    name,
    root: resolve(path),
    env: Object.fromEntries(
      settings.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
    ),
  };
});
const profDir = args["cpu-prof"] ? resolve(args["cpu-prof"] as string) : undefined;

if (spawnSync("wrk", ["--version"]).error) {
  console.error("wrk is not installed (Debian: apt-get install -y wrk)");
  process.exit(1);
}

type Target = { name: string; url: string; pid?: number; prefix?: string };
type Row = {
  rps: number;
  p50: number;
  p99: number;
  ratio: number;
  cores: number;
  usPerRedirect: number;
  natsCores: number;
  perBatch: number;
};

const db = await createTestDatabase("clickprof");
const run = crypto.randomUUID().slice(0, 6);
const stacks: { stop(): Promise<void> }[] = [];
const prefixes: string[] = [];
const BARE_PORT = freePort();
const bare = spawn(process.execPath, [join(import.meta.dir, "bare-302.ts")], {
  env: { ...process.env, PORT: String(BARE_PORT) },
  stdio: "ignore",
});
try {
  const sql = db.sql;
  const [brand] =
    await sql`insert into brands (slug, name, currency) values ('bench', 'Bench', 'EUR') returning id`;
  const [adv] =
    await sql`insert into advertisers (brand_id, name) values (${brand?.id}, 'Bench') returning id`;
  const [offer] = await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency)
    values (${brand?.id}, ${adv?.id}, 'Bench', 'https://casino.example/landing?cid={click_id}&s1={sub1}', 'EUR') returning id`;
  const [aff] = await sql`insert into affiliates (name) values ('Bench') returning id`;
  await sql`insert into links (code, offer_id, affiliate_id) values ('bench', ${offer?.id}, ${aff?.id})`;

  const targets: Target[] = [{ name: "bare302", url: `http://127.0.0.1:${BARE_PORT}/c/bench?sub1=news` }];
  for (const [i, c] of checkouts.entries()) {
    const prefix = `prof_${run}_${i}`;
    prefixes.push(prefix);
    const stack = await startStack({
      cwd: c.root,
      databaseUrl: db.url,
      natsUrl: NATS_URL,
      busPrefix: prefix,
      ports: "free",
      services: ["click"] as const,
      migrate: i === 0,
      env: { CLICK_ID_KEYS, LOG_LEVEL: "warn", SHUTDOWN_TIMEOUT_MS: "5000", ...extraEnv, ...c.env },
      command:
        profDir && i === 0
          ? () => [
              process.execPath,
              "--cpu-prof",
              `--cpu-prof-dir=${profDir}`,
              join(c.root, "services/click/src/index.ts"),
            ]
          : undefined,
    });
    stacks.push(stack);
    targets.push({
      name: c.name,
      url: `${stack.urls.click}/c/bench?sub1=news`,
      pid: stack.services.click.pid,
      prefix,
    });
  }
  const natsPid = Number(spawnSync("pgrep", ["-o", "-x", "nats-server"], { encoding: "utf8" }).stdout.trim());

  const rows = new Map<string, Row[]>(targets.map((t) => [t.name, []]));
  const clicks = targets.slice(1);
  for (let round = 1; round <= Number(args.rounds); round++) {
    // The bare 302 first, then the clicks in an order that rotates every round.
    const order = [
      targets[0] as Target,
      ...clicks.slice(round % clicks.length),
      ...clicks.slice(0, round % clicks.length),
    ];
    console.log(
      `\nround ${round} — ${args.connections} connections, ${args.threads} wrk threads, ${args.duration} s each`,
    );
    let bareRps = 0;
    for (const t of order) {
      wrk(t.url, Number(args.warmup));
      const load = loadavg()[0] ?? 0;
      const before = { cpu: cpuSeconds(t.pid), nats: cpuSeconds(natsPid), batches: await batches(t.prefix) };
      const t0 = performance.now();
      const r = wrk(t.url, Number(args.duration));
      const wall = (performance.now() - t0) / 1000;
      const after = { cpu: cpuSeconds(t.pid), nats: cpuSeconds(natsPid), batches: await batches(t.prefix) };
      if (t.name === "bare302") bareRps = r.rps;
      const row: Row = {
        rps: r.rps,
        p50: r.p50,
        p99: r.p99,
        ratio: bareRps ? r.rps / bareRps : 0,
        cores: (after.cpu - before.cpu) / wall,
        usPerRedirect: ((after.cpu - before.cpu) * 1e6) / Math.max(1, r.requests),
        natsCores: (after.nats - before.nats) / wall,
        perBatch: r.requests / Math.max(1, after.batches - before.batches),
      };
      rows.get(t.name)?.push(row);
      console.log(
        `${t.name.padEnd(10)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(2).padStart(5)} ms  p99 ${r.p99.toFixed(2).padStart(6)} ms` +
          (t.pid
            ? `  ${(100 * row.ratio).toFixed(1).padStart(5)} % of bare  click ${row.cores.toFixed(2)} cores (${row.usPerRedirect.toFixed(1)} µs/redirect)  nats ${row.natsCores.toFixed(2)} cores  ${row.perBatch.toFixed(1)} clicks/batch`
            : "") +
          `${r.errors ? `  errors ${r.errors}` : ""}  load ${load.toFixed(1)}`,
      );
    }
  }
  console.log("\nover the rounds (min … max):");
  for (const [name, rs] of rows) {
    const span = (f: (r: Row) => number, digits: number) => {
      const v = rs.map(f);
      return `${Math.min(...v).toFixed(digits)} … ${Math.max(...v).toFixed(digits)}`;
    };
    console.log(
      `${name.padEnd(10)} ${span((r) => r.rps, 0)} req/s  p99 ${span((r) => r.p99, 2)} ms` +
        (name === "bare302"
          ? ""
          : `  ${span((r) => 100 * r.ratio, 1)} % of bare  ${span((r) => r.usPerRedirect, 1)} µs/redirect`),
    );
  }
} finally {
  bare.kill("SIGTERM");
  for (const s of stacks) await s.stop();
  for (const p of prefixes) await deleteStreams(NATS_URL, p);
  await db.drop();
}
if (profDir) topFunctions(profDir);

async function batches(prefix: string | undefined): Promise<number> {
  if (!prefix) return 0;
  const nc = await connect({ servers: NATS_URL });
  try {
    return (await (await jetstreamManager(nc)).streams.info(`${prefix}_CLICKS`)).state.messages;
  } finally {
    await nc.close();
  }
}

/** User + system CPU seconds of a process so far (/proc/<pid>/stat, in ticks of 1/100 s). */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function wrk(url: string, seconds: number) {
  const headers = args.browser ? ["-H", `User-Agent: ${UA}`] : [];
  const out = spawnSync(
    "wrk",
    [
      "-t",
      args.threads as string,
      "-c",
      args.connections as string,
      "-d",
      `${seconds}s`,
      "--latency",
      ...headers,
      url,
    ],
    { encoding: "utf8" },
  ).stdout;
  const latency = (pct: string) => {
    const m = new RegExp(`${pct}\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return Number.NaN;
    const v = Number(m[1]);
    return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
  };
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0),
    errors: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    p50: latency("50%"),
    p99: latency("99%"),
  };
}

/** The functions with the most self time in the newest .cpuprofile of `dir`. */
function topFunctions(dir: string) {
  const file = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .sort()
    .at(-1);
  if (!file) return console.log(`no .cpuprofile in ${dir}`);
  type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number } };
  const prof = JSON.parse(readFileSync(join(dir, file), "utf8")) as {
    nodes: Node[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  prof.samples.forEach((id, i) => {
    const f = byId.get(id)?.callFrame;
    const where = f?.url.replace(/^.*node_modules\//, "").replace(/^.*\/(services|packages)\//, "$1/");
    const key = f ? `${f.functionName || "(anonymous)"} ${where}:${f.lineNumber + 1}` : "?";
    self.set(key, (self.get(key) ?? 0) + (prof.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  console.log(
    `\n${join(dir, file)}: self time, top 25 of ${(total / 1e6).toFixed(1)} s sampled (start-up included)`,
  );
  for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25))
    console.log(`${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`);
}
