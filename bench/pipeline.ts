/**
 * What the whole pipeline sustains, beside bench/run.ts's bursts (which stop at the click's and
 * the gateway's own durable write): the six services started as deployed, then
 *  - stored clicks: redirects at full speed for a set time, and how many of their rows reached
 *    PostgreSQL (attribution stores the CLICKS batches) within that time — the redirect rate the
 *    pipeline sustains, not the one the edge bursts at;
 *  - postback → affiliate postback: signed postbacks (each after its click) at a stated rate, and
 *    the time from the gateway's 200 to the affiliate endpoint's first 200 for each.
 */
import { startTestStack, type TestStack } from "@roundtrip/e2e/support/test-stack.ts";
import { startSoakEndpoints } from "./soak/endpoints.ts";
import { percentile } from "./soak/pace.ts";
import { PostbackLoad } from "./soak/postback-load.ts";
import { BROWSER_UA, SOAK_ENV, setUpProgram } from "./soak/run-soak.ts";

export type Burst = { rps: number; requests: number; errors: number; p99: number };

export type PipelineOptions = {
  /** Seconds of redirects at full speed for the stored-click rate (0: skip). */
  storedSeconds: number;
  /** Postbacks a second and seconds for the end-to-end latency (0: skip). */
  e2eRate: number;
  e2eSeconds: number;
  /** Redirects at full speed against `url` for `seconds`, with this User-Agent (wrk). */
  burst: (url: string, seconds: number, userAgent: string) => Burst;
};

export type PipelineResult = {
  stored?: {
    seconds: number;
    redirects: Burst;
    /** Click rows stored in PostgreSQL during the burst, per second. */
    storedPerSecond: number;
    /** Seconds after the burst until every recorded click was stored (undefined: not within `seconds`). */
    drainSeconds?: number;
    leftUnstored: number;
  };
  e2e?: {
    rate: number;
    seconds: number;
    acknowledged: number;
    delivered: number;
    p50: number;
    p99: number;
    max: number;
  };
};

export async function measurePipeline(o: PipelineOptions): Promise<PipelineResult> {
  const ackedAt = new Map<string, number>();
  const endpoints = startSoakEndpoints([{ kind: "ok" }], ackedAt);
  let env: TestStack | undefined;
  try {
    env = await startTestStack("benchpipe", SOAK_ENV, { readyTimeoutMs: 120_000 });
    const { program, signingSecret, clickUrls } = await setUpProgram(env, endpoints.urls);
    const result: PipelineResult = {};
    if (o.storedSeconds > 0) result.stored = await storedClicks(env, `${clickUrls[0]}?sub1=news`, o);
    if (o.e2eRate > 0 && o.e2eSeconds > 0) {
      const load = new PostbackLoad({
        clickUrls,
        gatewayUrl: env.urls.gateway,
        token: program.advertiser.token,
        signingSecret,
        ratePerSecond: o.e2eRate,
        duplicateShare: 0,
        maxInFlight: 512,
        timeoutMs: 10_000,
        journeyDeadlineMs: 60_000,
        txPrefix: `bench${crypto.randomUUID().slice(0, 6)}`,
        userAgent: BROWSER_UA,
        ackedAt,
      });
      load.start();
      await Bun.sleep(o.e2eSeconds * 1000);
      const counts = await load.stop();
      const latencies: number[] = [];
      const deadline = Date.now() + 120_000;
      while (latencies.length < counts.accepted && Date.now() < deadline) {
        latencies.push(...endpoints.latencies.take());
        await Bun.sleep(500);
      }
      latencies.push(...endpoints.latencies.take());
      result.e2e = {
        rate: o.e2eRate,
        seconds: o.e2eSeconds,
        acknowledged: counts.accepted,
        delivered: latencies.length,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        max: percentile(latencies, 100),
      };
    }
    return result;
  } finally {
    await env?.stop();
    endpoints.stop();
  }
}

async function storedClicks(
  env: TestStack,
  url: string,
  o: PipelineOptions,
): Promise<PipelineResult["stored"]> {
  const count = async () =>
    (await env.sql<{ n: number }[]>`select count(*)::int as n from clicks`)[0]?.n ?? 0;
  const before = await count();
  const redirects = o.burst(url, o.storedSeconds, BROWSER_UA);
  const atEnd = await count();
  const owed = before + redirects.requests - redirects.errors;
  const ended = Date.now();
  let now = atEnd;
  while (now < owed && Date.now() - ended < o.storedSeconds * 1000) {
    await Bun.sleep(1_000);
    now = await count();
  }
  return {
    seconds: o.storedSeconds,
    redirects,
    storedPerSecond: (atEnd - before) / o.storedSeconds,
    drainSeconds: now >= owed ? (Date.now() - ended) / 1000 : undefined,
    leftUnstored: Math.max(0, owed - now),
  };
}
