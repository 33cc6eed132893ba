/**
 * The soak (bench/README.md, "Soak"): the six services started as deployed, a sustained mixed load
 * for a set time, a reading of every measure each interval, then the exactness check and a verdict
 * per measure. Used by `bench/soak.ts` (10 minutes at the target rate) and by the short soak of the
 * test suite (bench/soak/soak.test.ts).
 */
import { connect } from "@nats-io/transport-node";
import { auditExactlyOnce, type Audit, describeAudit } from "@roundtrip/e2e/support/exactly-once.ts";
import { addAffiliate, createProgram } from "@roundtrip/e2e/support/fixtures.ts";
import { eventually, NATS_URL, startTestStack, type TestStack } from "@roundtrip/e2e/support/test-stack.ts";
import type { ClickLoadCounts, ClickLoadMessage, ClickLoadStart } from "./click-load.ts";
import { cpuMeter, metricValue, readState, scrape } from "./collect.ts";
import { describeEndpoint, type EndpointKind, startSoakEndpoints } from "./endpoints.ts";
import { judgeAll, type MeasureVerdict, type Sample, verdictLine } from "./measures.ts";
import { percentile } from "./pace.ts";
import { type PostbackCounts, PostbackLoad } from "./postback-load.ts";
import { printCpuPerLoad, printSample, printVerdicts } from "./report.ts";

export type SoakOptions = {
  durationMs: number;
  sampleEveryMs: number;
  /** Clicks a second from the click load (the postbacks' own clicks come on top). */
  clicksPerSecond: number;
  postbacksPerSecond: number;
  duplicateShare: number;
  endpoints: EndpointKind[];
  /** After the load: how long every acknowledged postback may take to go all the way through. */
  drainTimeoutMs: number;
  /** Widens the verdict's floors (a loaded CI machine). */
  floorScale: number;
  /** Extra environment for every service. */
  env?: Record<string, string>;
  log?: (line: string) => void;
};

export type SoakResult = {
  samples: Sample[];
  verdicts: MeasureVerdict[];
  line: string;
  audit: Audit;
  clicks: {
    /** 302s received: the click load's, the postbacks' own clicks and the start-up probes. */
    redirected: number;
    /** Clicks the click service answered 302 and counted as recorded. */
    recorded: number;
    /** Click rows in PostgreSQL after the drain. */
    stored: number;
    /** Click requests that failed or timed out (such a click may still have been recorded). */
    uncertain: number;
    /** Every redirect stored once: redirected ≤ stored ≤ redirected + uncertain. */
    exact: boolean;
  };
  postbacks: PostbackCounts;
  /** Requests the generators could not start on time (the machine could not take the rate). */
  skipped: { clicks: number; postbacks: number };
};

export const BROWSER_UA =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";

/**
 * The affiliate endpoints may take the whole rate (their own limits are not under test), delivery
 * retries quickly and often enough that a failing endpoint's postbacks all land before the drain
 * ends, and its circuit pauses briefly: the soak watches the pipeline, not retry timers.
 */
export const SOAK_ENV: Record<string, string> = {
  DELIVERY_ENDPOINT_RATE_PER_S: "5000",
  DELIVERY_ENDPOINT_CONCURRENCY: "64",
  DELIVERY_RETRY_SCHEDULE_S: "0,1,1,2,2,4,4,8,8,15,15,30",
  DELIVERY_BREAKER_HALF_OPEN_MS: "2000",
  POSTBACK_RATE_LIMIT_PER_S: "100000",
  // The loads name each visitor in X-Forwarded-For (visitors.ts): many addresses, as in traffic.
  TRUSTED_PROXY_HOPS: "1",
};

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const log = o.log ?? console.log;
  const ackedAt = new Map<string, number>();
  const endpoints = startSoakEndpoints(o.endpoints, ackedAt);
  let env: TestStack | undefined;
  let worker: Worker | undefined;
  const nc = await connect({ servers: NATS_URL });
  try {
    env = await startTestStack("soak", { ...SOAK_ENV, ...o.env }, { readyTimeoutMs: 120_000 });
    const { program, signingSecret, clickUrls, probes } = await setUpProgram(env, endpoints.urls);
    log(
      `soak: ${o.clicksPerSecond} clicks/s + ${o.postbacksPerSecond} signed postbacks/s (${Math.round(o.duplicateShare * 100)} % sent twice) ` +
        `for ${o.durationMs / 1000} s, a reading every ${o.sampleEveryMs / 1000} s; affiliate endpoints: ${o.endpoints.map(describeEndpoint).join(", ")}`,
    );

    const clicks = startClickWorker({
      type: "start",
      urls: clickUrls,
      ratePerSecond: o.clicksPerSecond,
      maxInFlight: 256,
      timeoutMs: 10_000,
      userAgent: BROWSER_UA,
    });
    worker = clicks.worker;
    const postbacks = new PostbackLoad({
      clickUrls,
      gatewayUrl: env.urls.gateway,
      token: program.advertiser.token,
      signingSecret,
      ratePerSecond: o.postbacksPerSecond,
      duplicateShare: o.duplicateShare,
      maxInFlight: 512,
      timeoutMs: 10_000,
      journeyDeadlineMs: 60_000,
      txPrefix: `soak${crypto.randomUUID().slice(0, 6)}`,
      userAgent: BROWSER_UA,
      ackedAt,
    });
    postbacks.start();

    const probe = {
      sql: env.sql,
      nc,
      busPrefix: env.busPrefix,
      clickUrl: env.urls.click,
      pids: Object.fromEntries(Object.entries(env.stack.services).map(([name, s]) => [name, s.pid])),
    };
    const samples: Sample[] = [];
    const cpu = cpuMeter();
    await readState(probe, cpu).catch(() => {});
    const began = Date.now();
    let last = { at: began, postbacks: 0, clicks: 0, skipped: 0, errors: 0 };
    for (let i = 1; i * o.sampleEveryMs <= o.durationMs; i++) {
      await Bun.sleep(Math.max(0, began + i * o.sampleEveryMs - Date.now()));
      const [c, state] = await Promise.all([clicks.sample(), readState(probe, cpu).catch(() => ({}))]);
      const now = Date.now();
      const seconds = (now - last.at) / 1000;
      const postbackLatencies = postbacks.latencies.take();
      const e2e = endpoints.latencies.take();
      const healthy = endpoints.healthyLatencies.take();
      const sample: Sample = {
        at: now,
        values: {
          "redirects/s": (c.redirects + postbacks.counts.clicks - last.clicks) / seconds,
          "redirect p99 ms": percentile(c.latencies, 99),
          "postbacks/s": (postbacks.counts.accepted - last.postbacks) / seconds,
          "postback p99 ms": percentile(postbackLatencies, 99),
          "e2e p50 ms": percentile(e2e, 50),
          "e2e p99 ms": percentile(e2e, 99),
          "e2e healthy p99 ms": percentile(healthy, 99),
          "e2e count": e2e.length,
          "errors count": c.errors + postbacks.counts.errors - last.errors,
          "clicks not sent on time count": c.skipped,
          "postbacks not sent on time count": postbacks.skipped - last.skipped,
          ...state,
        },
      };
      last = {
        at: now,
        postbacks: postbacks.counts.accepted,
        clicks: postbacks.counts.clicks,
        skipped: postbacks.skipped,
        errors: postbacks.counts.errors,
      };
      samples.push(sample);
      printSample(log, i, sample);
    }

    const [clickTotals, postbackCounts] = await Promise.all([clicks.stop(), postbacks.stop()]);
    log(
      `soak: load stopped; waiting up to ${o.drainTimeoutMs / 1000} s for every acknowledged postback and click`,
    );
    const sql = env.sql;
    const recordedClicks = async () =>
      metricValue(await scrape(probe.clickUrl), "roundtrip_clicks_total", { outcome: "recorded" });
    const storedClicks = async () =>
      (await sql<{ n: number }[]>`select count(*)::int as n from clicks`)[0]?.n ?? 0;
    const redirected = clickTotals.redirects + postbackCounts.clicks + probes;
    // A click request that timed out may still have been recorded: those are the only clicks
    // that may be stored beyond the 302s the load saw.
    const uncertain = clickTotals.errors + postbackCounts.clickErrors;
    const audited = () =>
      auditExactlyOnce({
        sql,
        advertiserId: program.advertiser.id,
        journeys: postbacks.journeys,
        received: endpoints.received.flat(),
      });
    const drainStarted = Date.now();
    let audit = await audited();
    let stored = await storedClicks();
    while (
      (audit.problems.length > 0 || stored < redirected) &&
      Date.now() - drainStarted < o.drainTimeoutMs
    ) {
      await Bun.sleep(2_000);
      audit = await audited();
      stored = await storedClicks();
    }
    const recorded = await recordedClicks();
    log(`soak: drained in ${((Date.now() - drainStarted) / 1000).toFixed(0)} s`);
    log(`soak: exactness: ${describeAudit(audit)}`);
    log(
      `soak: clicks: ${redirected} redirects received (load and probes), ${recorded} counted recorded by the click service, ${stored} stored in PostgreSQL` +
        (uncertain
          ? `; ${uncertain} click requests failed or timed out (last: ${clickTotals.lastError ?? postbackCounts.lastError})`
          : ""),
    );
    const clicksExact = stored >= redirected && stored <= redirected + uncertain;
    if (audit.problems.length > 0 || !clicksExact) await diagnose(log, env);
    printCpuPerLoad(log, samples);
    const verdicts = judgeAll(samples, o.floorScale);
    printVerdicts(log, verdicts);
    const line = verdictLine(verdicts);
    log(line);
    return {
      samples,
      verdicts,
      line,
      audit,
      clicks: { redirected, recorded, stored, uncertain, exact: clicksExact },
      postbacks: postbackCounts,
      skipped: { clicks: clickTotals.skipped, postbacks: postbackCounts.skipped },
    };
  } finally {
    worker?.terminate();
    await env?.stop();
    endpoints.stop();
    await nc.close();
  }
}

/**
 * One brand, a signing advertiser (token and signature both checked), an offer with a CPA on ftd
 * and one affiliate per endpoint, each with its own tracking link; returns once every link
 * redirects. `probes`: the 302s that took (clicks too, which must be stored like any other).
 */
export async function setUpProgram(env: TestStack, endpointUrls: readonly string[]) {
  const program = await createProgram(env.admin, { postbackUrl: endpointUrls[0] as string });
  const { signing_secret: signingSecret } = await env.admin.post<{ signing_secret: string }>(
    `/v1/advertisers/${program.advertiser.id}/signing-secret`,
    {},
  );
  const links = [program.link];
  for (const url of endpointUrls.slice(1))
    links.push((await addAffiliate(env.admin, { offerId: program.offer.id, postbackUrl: url })).link);
  const clickUrls = links.map((l) => `${env.urls.click}/c/${l.code}`);
  let probes = 0;
  for (const url of clickUrls)
    await eventually(async () => {
      const res = await fetch(url, { redirect: "manual", headers: { "user-agent": BROWSER_UA } });
      await res.arrayBuffer();
      if (res.status === 302) probes++;
      return res.status === 302;
    }, `${url} to redirect`);
  return { program, signingSecret, clickUrls, probes };
}

/** Where a broken promise sits: owed rows, dead letters, and what each service last complained about. */
async function diagnose(log: (line: string) => void, env: TestStack): Promise<void> {
  const owed = await env.sql<{ stream: string; published: boolean; n: number }[]>`
    select stream, published_at is not null as published, count(*)::int as n
    from bus_outbox where handled_at is null group by 1, 2`;
  const parked = await env.sql<{ consumer: string; n: number }[]>`
    select consumer, count(*)::int as n from bus_dead_letters group by 1`;
  log(`soak: owed rows ${JSON.stringify(owed)}; dead-letter parkings ${JSON.stringify(parked)}`);
  for (const [name, service] of Object.entries(env.stack.services))
    log(`--- ${name} ---\n${service.logTail(15)}`);
}

function startClickWorker(start: ClickLoadStart) {
  const worker = new Worker(new URL("./click-load.ts", import.meta.url).href);
  const next = (type: "sample" | "stopped") =>
    new Promise<ClickLoadMessage>((resolve) => {
      const on = (event: MessageEvent<ClickLoadMessage>) => {
        if (event.data.type !== type) return;
        worker.removeEventListener("message", on);
        resolve(event.data);
      };
      worker.addEventListener("message", on);
    });
  worker.postMessage(start);
  return {
    worker,
    async sample() {
      const answer = next("sample");
      worker.postMessage({ type: "sample" } satisfies ClickLoadMessage);
      return (await answer) as ClickLoadCounts & { latencies: number[] };
    },
    async stop() {
      const answer = next("stopped");
      worker.postMessage({ type: "stop" } satisfies ClickLoadMessage);
      return (await answer) as ClickLoadCounts;
    },
  };
}
