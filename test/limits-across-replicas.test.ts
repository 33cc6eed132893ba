/**
 * issue 11: limits hold for the cluster, not per process. Two gateway replicas share one
 * advertiser rate limit, two delivery replicas share each endpoint's concurrency, rate and circuit
 * (each keeping its own would allow twice the figure), and a visitor clicking through two click
 * replicas is one unique click.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { createProgram, type Program } from "./support/fixtures.ts";
import { Replicas } from "./support/replicas.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

const POSTBACKS_PER_S = 10;
const ENDPOINT = { concurrency: 2, ratePerSecond: 5, breakerFailures: 3 };

let env: TestStack;
let replicas: Replicas;
let affiliate: ReturnType<typeof startAffiliateEndpoint>;
let program: Program;

beforeAll(async () => {
  affiliate = startAffiliateEndpoint();
  env = await startTestStack(
    "limits",
    {
      POSTBACK_RATE_LIMIT_PER_S: String(POSTBACKS_PER_S),
      DELIVERY_ENDPOINT_CONCURRENCY: String(ENDPOINT.concurrency),
      DELIVERY_ENDPOINT_RATE_PER_S: String(ENDPOINT.ratePerSecond),
      DELIVERY_BREAKER_FAILURES: String(ENDPOINT.breakerFailures),
      DELIVERY_BREAKER_HALF_OPEN_MS: "600000",
      DATABASE_POOL_MAX: "3",
    },
    { readyTimeoutMs: 90_000 },
  );
  replicas = new Replicas(env);
  program = await createProgram(env.admin, { postbackUrl: affiliate.url });
  await replicas.start("gateway", 1);
  await replicas.start("delivery", 1);
  await replicas.start("click", 1);
}, 240_000);

afterAll(async () => {
  await replicas?.stop();
  await env?.stop();
  affiliate?.stop();
}, 60_000);

async function clickId(on: Program = program): Promise<string> {
  return eventually(async () => {
    const r = await fetch(`${env.urls.click}/c/${on.link.code}`, { redirect: "manual" });
    await r.arrayBuffer();
    return r.status === 302
      ? (new URL(r.headers.get("location") as string).searchParams.get("cid") ?? undefined)
      : undefined;
  }, "the tracking link to redirect");
}

type Sent = { replica: number; status: number; startedAt: number; endedAt: number };

test("two gateway replicas admit the advertiser's limit per second between them, not each", async () => {
  const cid = await clickId();
  const gateways = [replicas.get("gateway", 0).url, replicas.get("gateway", 1).url];
  const run = crypto.randomUUID().slice(0, 8);
  const sent: Sent[] = [];
  // Closed loops, several per replica, for a few seconds: each replica alone is offered well over
  // the limit, so per-process limits would admit about twice what a shared one does.
  const until = Date.now() + 4_000;
  let n = 0;
  const loop = async (replica: number) => {
    while (Date.now() < until) {
      const query = new URLSearchParams({
        token: program.advertiser.token,
        click_id: cid,
        txid: `${run}-${n++}`,
        event: "registration",
      });
      const startedAt = Date.now();
      const res = await fetch(`${gateways[replica]}/postback?${query}`, {
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      sent.push({ replica, status: res.status, startedAt, endedAt: Date.now() });
    }
  };
  await Promise.all([0, 0, 0, 0, 1, 1, 1, 1].map(loop));

  const accepted = sent.filter((s) => s.status === 200);
  const limited = sent.filter((s) => s.status === 429);
  expect(sent.filter((s) => s.status !== 200 && s.status !== 429)).toEqual([]);
  const first = Math.floor(Math.min(...sent.map((s) => s.startedAt)) / 1000);
  const last = Math.floor(Math.max(...sent.map((s) => s.endedAt)) / 1000);
  const windows = last - first + 1;
  const summary = `${accepted.length} accepted, ${limited.length} limited over ${windows} one-second windows`;
  console.log(`advertiser limit ${POSTBACKS_PER_S}/s across two gateways: ${summary}`);
  // Both replicas admitted and refused: the budget was shared, not held by one.
  for (const replica of [0, 1]) {
    expect(accepted.some((s) => s.replica === replica)).toBe(true);
    expect(limited.some((s) => s.replica === replica)).toBe(true);
  }
  expect(accepted.length).toBeLessThanOrEqual(POSTBACKS_PER_S * windows);
  // Per window: requests that started and ended inside one second, admitted, stay within its budget.
  const perSecond = new Map<number, number>();
  for (const s of accepted) {
    const second = Math.floor(s.startedAt / 1000);
    if (Math.floor(s.endedAt / 1000) === second) perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
  }
  for (const [second, count] of perSecond)
    expect({ second, count }).toEqual({ second, count: Math.min(count, POSTBACKS_PER_S) });
}, 120_000);

/** An affiliate endpoint that counts requests in flight; `respond` decides each answer. */
function watchedEndpoint(respond: () => Promise<Response> | Response) {
  let inflight = 0;
  let maxInflight = 0;
  const endpoint = startAffiliateEndpoint(async () => {
    inflight++;
    maxInflight = Math.max(maxInflight, inflight);
    try {
      return await respond();
    } finally {
      inflight--;
    }
  });
  return { ...endpoint, maxInflight: () => maxInflight };
}

/** `count` conversions on a program of their own whose affiliate postbacks go to `url`. */
async function conversionsTo(url: string, count: number): Promise<Program> {
  const own = await createProgram(env.admin, { postbackUrl: url });
  const cid = await clickId(own);
  const run = crypto.randomUUID().slice(0, 8);
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      eventually(
        async () => {
          const query = new URLSearchParams({
            token: own.advertiser.token,
            click_id: cid,
            txid: `${run}-${i}`,
            event: "ftd",
            amount: "10.00",
          });
          const res = await fetch(`${env.urls.gateway}/postback?${query}`);
          await res.arrayBuffer();
          return res.status === 200; // 429: the advertiser's limit; retried as an advertiser would
        },
        "the postback to be accepted",
        60_000,
      ),
    ),
  );
  return own;
}

test("two delivery replicas keep an endpoint's concurrency between them", async () => {
  const slow = watchedEndpoint(async () => {
    await Bun.sleep(400);
    return new Response("ok");
  });
  try {
    await conversionsTo(slow.url, 12);
    await eventually(async () => slow.received.length >= 12, "12 affiliate postbacks", 90_000);
    console.log(
      `endpoint concurrency ${ENDPOINT.concurrency} across two senders: at most ${slow.maxInflight()} in flight`,
    );
    expect(slow.maxInflight()).toBeLessThanOrEqual(ENDPOINT.concurrency);
    expect(slow.maxInflight()).toBeGreaterThan(0);
  } finally {
    slow.stop();
  }
}, 120_000);

test("two delivery replicas keep an endpoint's rate between them", async () => {
  const fast = watchedEndpoint(() => new Response("ok"));
  const n = 20;
  try {
    await conversionsTo(fast.url, n);
    await eventually(async () => fast.received.length >= n, `${n} affiliate postbacks`, 90_000);
    const times = fast.received.map((r) => r.at).sort((a, b) => a - b);
    const spanMs = (times.at(-1) ?? 0) - (times[0] ?? 0);
    console.log(
      `endpoint rate ${ENDPOINT.ratePerSecond}/s across two senders: ${n} postbacks over ${spanMs} ms`,
    );
    // n requests at most `rate` a second take at least ceil(n / rate) one-second windows, so the
    // first and the last are more than (windows - 2) seconds apart; per sender they could be half that.
    const windows = Math.ceil(n / ENDPOINT.ratePerSecond);
    expect(spanMs).toBeGreaterThan((windows - 2) * 1000);
  } finally {
    fast.stop();
  }
}, 120_000);

test("two delivery replicas open an endpoint's circuit together after the failures in a row", async () => {
  const down = watchedEndpoint(() => new Response("down", { status: 503 }));
  try {
    await conversionsTo(down.url, 10);
    const key = new URL(down.url).origin;
    await eventually(
      async () => {
        const [c] = await env.sql`select opened_at from delivery_circuits where endpoint = ${key}`;
        return c?.opened_at ? true : undefined;
      },
      "the endpoint's circuit to open",
      90_000,
    );
    // Whatever was in flight when it opened still ends; then nothing more reaches the endpoint.
    await Bun.sleep(2_000);
    const received = down.received.length;
    console.log(
      `circuit after ${ENDPOINT.breakerFailures} failures across two senders: ${received} requests reached the endpoint`,
    );
    expect(received).toBeLessThanOrEqual(ENDPOINT.breakerFailures + ENDPOINT.concurrency - 1);
    const pending = await env.sql<{ n: number }[]>`
      select count(*)::int as n from deliveries where endpoint = ${key} and status = 'pending'`;
    expect(pending[0]?.n).toBe(10);
  } finally {
    down.stop();
  }
}, 120_000);

test("a visitor clicking through two click replicas is one unique click, in the rows and in both rollups", async () => {
  const own = await createProgram(env.admin, { postbackUrl: affiliate.url });
  const clicks = [replicas.get("click", 0).url, replicas.get("click", 1).url];
  const browser = (v: number) =>
    `Mozilla/5.0 (X11; Linux x86_64; rv:13${v}.0) Gecko/20100101 Firefox/13${v}.0`;
  const ids: string[] = [];
  // Two visitors (one user agent each, the same address), three clicks each through each replica.
  for (let i = 0; i < 12; i++) {
    const base = clicks[i % 2] as string;
    const id = await eventually(async () => {
      const r = await fetch(`${base}/c/${own.link.code}`, {
        redirect: "manual",
        headers: { "user-agent": browser(i % 4 < 2 ? 1 : 2) },
      });
      await r.arrayBuffer();
      return r.status === 302
        ? (new URL(r.headers.get("location") as string).searchParams.get("cid") ?? undefined)
        : undefined;
    }, "the tracking link to redirect on both replicas");
    ids.push(id);
  }
  const counted = await eventually(
    async () => {
      const [row] = await env.sql<{ stored: number; unique: number }[]>`
        select count(*)::int as stored, count(*) filter (where is_unique)::int as unique
        from clicks where click_id = any(${ids})`;
      const [stats] = await env.sql<{ clicks: number; unique: number }[]>`
        select coalesce(sum(clicks), 0)::int as clicks, coalesce(sum(unique_clicks), 0)::int as unique
        from click_stats_hourly where offer_id = ${own.offer.id}`;
      const [report] = await env.sql<{ clicks: number; unique: number }[]>`
        select coalesce(sum(clicks), 0)::int as clicks, coalesce(sum(unique_clicks), 0)::int as unique
        from report_hourly where offer_id = ${own.offer.id}`;
      return row?.stored === ids.length && stats?.clicks === ids.length && report?.clicks === ids.length
        ? { rows: row.unique, stats: stats.unique, report: report.unique }
        : undefined;
    },
    "the clicks to be stored and counted",
    60_000,
  );
  console.log(`12 clicks of 2 visitors through two click replicas: unique ${JSON.stringify(counted)}`);
  expect(counted).toEqual({ rows: 2, stats: 2, report: 2 });
}, 120_000);
