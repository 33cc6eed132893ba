/**
 * One reading of everything the soak watches that is not a request latency: the stored-click lag
 * (click's gauge), each durable consumer's backlog (JetStream), owed outbox events per stream and
 * the age of the oldest, the row counts of the tables clean-up must bound, and each service's RSS.
 */
import { readFileSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import type { connect } from "@nats-io/transport-node";
import type { Sql } from "@roundtrip/db";

export type Probe = {
  sql: Sql;
  nc: Awaited<ReturnType<typeof connect>>;
  busPrefix: string;
  clickUrl: string;
  /** PID per service. */
  pids: Record<string, number>;
};

/** Tables whose row counts are printed, by the name the report uses. */
export const TABLES = {
  outbox: "bus_outbox",
  inbox: "bus_inbox",
  "replay store": "postback_signatures",
  "request log": "postback_log",
} as const;

/** A sample's measures: name → value (NaN when the reading failed). */
export type Reading = Record<string, number>;

export async function readState(p: Probe, cpu: CpuMeter): Promise<Reading> {
  const [clickMetrics, lags, owed, rows, backends] = await Promise.all([
    scrape(p.clickUrl),
    consumerLags(p),
    owedEvents(p.sql),
    rowCounts(p.sql),
    p.sql<{ pid: number }[]>`select pid from pg_stat_activity where datname = current_database()`,
  ]);
  const reading: Reading = {
    "stored-click lag s": metricValue(clickMetrics, "roundtrip_clicks_unstored_lag_seconds"),
    ...lags,
    ...owed,
    ...rows,
  };
  for (const [name, pid] of Object.entries(p.pids)) {
    reading[`rss ${name} MB`] = rssMb(pid);
    reading[`cpu ${name} cores`] = cpu.cores(name, [pid]);
  }
  // PostgreSQL's share is the CPU of this database's backends (the server is shared with others).
  reading["cpu postgres cores"] = cpu.cores(
    "postgres",
    backends.map((b) => b.pid),
  );
  return reading;
}

/** CPU seconds per second (cores) of a set of processes between two readings; NaN at the first. */
export type CpuMeter = { cores(name: string, pids: number[]): number };

export function cpuMeter(): CpuMeter {
  const ticksPerSecond = 100; // USER_HZ on Linux
  const last = new Map<string, { at: number; ticks: Map<number, number> }>();
  return {
    cores(name, pids) {
      const now = performance.now();
      const ticks = new Map(pids.map((pid) => [pid, cpuTicks(pid)] as const));
      const before = last.get(name);
      last.set(name, { at: now, ticks });
      if (!before) return Number.NaN;
      let used = 0;
      // A process seen only now (a new backend) counts from zero: its CPU so far is this interval's.
      for (const [pid, t] of ticks) used += Math.max(0, t - (before.ticks.get(pid) ?? 0));
      return used / ticksPerSecond / ((now - before.at) / 1000);
    },
  };
}

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) in parentheses; utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

export async function scrape(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  return res.text();
}

/** Sum of a metric's series whose labels include every `labels` pair; NaN when there is none. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = Number.NaN;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || (line[name.length] !== "{" && line[name.length] !== " ")) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    sum = (Number.isNaN(sum) ? 0 : sum) + value;
  }
  return sum;
}

/** Messages not yet acknowledged by each durable consumer (pending + in flight). */
async function consumerLags(p: Probe): Promise<Reading> {
  const jsm = await jetstreamManager(p.nc);
  const out: Reading = {};
  for await (const stream of jsm.streams.list()) {
    const name = stream.config.name;
    if (!name.startsWith(`${p.busPrefix}_`)) continue;
    for await (const c of jsm.consumers.list(name)) {
      if (!c.config.durable_name) continue;
      out[`lag ${c.config.durable_name} msgs`] = c.num_pending + c.num_ack_pending;
    }
  }
  return out;
}

async function owedEvents(sql: Sql): Promise<Reading> {
  const rows = await sql<{ stream: string; owed: number; age: number }[]>`
    select stream, count(*)::int as owed, coalesce(extract(epoch from now() - min(created_at)), 0)::float8 as age
    from bus_outbox where handled_at is null group by stream`;
  const out: Reading = {};
  for (const r of rows) {
    out[`owed ${r.stream ?? "(none)"}`] = r.owed;
    out[`owed age ${r.stream ?? "(none)"} s`] = r.age;
  }
  return out;
}

async function rowCounts(sql: Sql): Promise<Reading> {
  const out: Reading = {};
  for (const [label, table] of Object.entries(TABLES)) {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(table)}`;
    out[`rows ${label}`] = row?.n ?? Number.NaN;
  }
  return out;
}

function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return kb / 1024;
  } catch {
    return Number.NaN;
  }
}
