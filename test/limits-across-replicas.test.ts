/**
 * issue 11: limits hold for the cluster, not per process. Two gateway replicas share one
 * advertiser rate limit (each admitting its own limit would admit twice it).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { createProgram, type Program } from "./support/fixtures.ts";
import { Replicas } from "./support/replicas.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

const POSTBACKS_PER_S = 10;

let env: TestStack;
let replicas: Replicas;
let affiliate: ReturnType<typeof startAffiliateEndpoint>;
let program: Program;

beforeAll(async () => {
  affiliate = startAffiliateEndpoint();
  env = await startTestStack(
    "limits",
    { POSTBACK_RATE_LIMIT_PER_S: String(POSTBACKS_PER_S), DATABASE_POOL_MAX: "4" },
    { readyTimeoutMs: 90_000 },
  );
  replicas = new Replicas(env);
  program = await createProgram(env.admin, { postbackUrl: affiliate.url });
  await replicas.start("gateway", 1);
}, 240_000);

afterAll(async () => {
  await replicas?.stop();
  await env?.stop();
  affiliate?.stop();
}, 60_000);

async function clickId(): Promise<string> {
  return eventually(async () => {
    const r = await fetch(`${env.urls.click}/c/${program.link.code}`, { redirect: "manual" });
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
