import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { type Prometheus, startPrometheus } from "../deploy/test/prometheus.ts";
import { dashboardQueries, expandVariables, REPO, variableSelectors } from "../deploy/test/promql.ts";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { createProgram } from "./support/fixtures.ts";
import { BROWSER_UA } from "./support/load.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

/**
 * Every Grafana panel must show data on a running stack: the six real services take real traffic
 * (clicks, accepted/duplicate/refused postbacks, a reversal, a delivery that fails once), a real
 * Prometheus scrapes them with the shipped scrape config and rules, and every dashboard query is
 * evaluated through its HTTP API and must return at least one series.
 */
let env: TestStack;
let prometheus: Prometheus;
let affiliate: ReturnType<typeof startAffiliateEndpoint>;

type ScrapeConfig = {
  job_name: string;
  scrape_interval?: string;
  static_configs: { targets: string[]; labels: { service: string } }[];
};

beforeAll(async () => {
  // The first delivery attempt fails, so retry outcomes and latencies have data too.
  affiliate = startAffiliateEndpoint(
    (_req, n) => new Response(n === 1 ? "busy" : "ok", { status: n === 1 ? 503 : 200 }),
  );
  env = await startTestStack("dash", {}, { readyTimeoutMs: 90_000 }); // a shared CI machine can be slow to start six services

  const shipped = parse(readFileSync(join(REPO, "deploy/prometheus/prometheus.yml"), "utf8")) as {
    global: Record<string, string>;
    rule_files: string[];
    scrape_configs: ScrapeConfig[];
  };
  shipped.rule_files = shipped.rule_files.map((f) => join(REPO, "deploy/prometheus", f));
  shipped.global.scrape_interval = "1s";
  shipped.global.evaluation_interval = "1s";
  for (const job of shipped.scrape_configs) {
    for (const target of job.static_configs) {
      const service = target.labels.service as keyof typeof env.urls;
      target.targets = [new URL(env.urls[service]).host];
    }
  }
  prometheus = await startPrometheus({ config: stringify(shipped) });
  const scraped = async (expr: string) => ((await prometheus.query(expr)).data?.result.length ?? 0) > 0;
  await eventually(
    () => scraped('count(up{service=~".+"} == 1) == 6'),
    "Prometheus to scrape all six services",
    30_000,
  );

  const program = await createProgram(env.admin, { postbackUrl: affiliate.url });
  const base = `${env.urls.gateway}/postback`;
  const token = program.advertiser.token;
  const clickIds: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await eventually(async () => {
      // A browser's user agent: Bun's own is a bot to isbot, and bots are not "recorded" clicks.
      const r = await fetch(`${env.urls.click}/c/${program.link.code}?sub1=s${i}`, {
        redirect: "manual",
        headers: { "user-agent": BROWSER_UA },
      });
      return r.status === 302 ? r : undefined;
    }, "the link to redirect");
    clickIds.push(new URL(res.headers.get("location") as string).searchParams.get("cid") as string);
  }
  await fetch(`${env.urls.click}/c/${program.link.code}`, {
    redirect: "manual",
    headers: { "user-agent": "Slackbot-LinkExpanding 1.0" },
  });
  await fetch(`${env.urls.click}/c/no-such-link`, { redirect: "manual" });
  const [a, b, c] = clickIds as [string, string, string];
  const send = (q: Record<string, string>) => fetch(`${base}?${new URLSearchParams(q)}`);
  // Six postbacks accepted or duplicate, three refused at the gateway, one refused by attribution.
  const mix = async (round: number) => {
    await send({ click_id: a, txid: `d1-${round}`, event: "ftd", amount: "100", token });
    await send({ click_id: a, txid: `d1-${round}`, event: "ftd", amount: "100", token }); // duplicate
    await send({ click_id: b, txid: `r1-${round}`, event: "registration", token });
    await send({ click_id: c, txid: `d2-${round}`, event: "ftd", amount: "20", token });
    await send({ click_id: c, txid: `d2-${round}`, event: "ftd", status: "reversed", token }); // reversal
    await send({ click_id: a, txid: "x", event: "ftd", token: "wrong" }); // unauthorized
    await send({ click_id: `${a.slice(0, -2)}zz`, txid: "x", event: "ftd", token }); // forged
    await send({ click_id: a, event: "not an event!", token }); // invalid
    // Accepted by the gateway, rejected by attribution: pending after approved is stale.
    await send({ click_id: b, txid: `r1-${round}`, event: "registration", status: "pending", token });
  };
  // The gateway zeroes every outcome series of an advertiser it knows, so once Prometheus has one
  // sample of them, both rounds count in rate() alike.
  await eventually(
    () =>
      scraped(`roundtrip_postbacks_total{advertiser="${program.advertiser.id}", outcome="accepted"} == 0`),
    "a scrape of the advertiser's zeroed postback series",
    30_000,
  );
  await mix(1);
  await mix(2);

  // Wait for the pipeline to finish (the failed first delivery is retried after its backoff),
  // then for a few more scrapes so every rate() has two samples.
  await eventually(
    async () => affiliate.received.filter((r) => r.url.searchParams.get("st") === "reversed").length >= 2,
    "the reversal postback",
    30_000,
  );
  await eventually(
    async () => {
      const [{ pending }] =
        (await env.sql`select count(*)::int as pending from deliveries where status = 'pending'`) as unknown as [
          { pending: number },
        ];
      return pending === 0;
    },
    "all deliveries to settle",
    30_000,
  );
  await Bun.sleep(7_000);
}, 200_000);

afterAll(async () => {
  await prometheus?.stop();
  await env?.stop();
  affiliate?.stop();
}, 60_000);

describe("dashboards against a running stack", () => {
  test("Prometheus scrapes all six services", async () => {
    const up = await prometheus.query(
      'sum(up{service=~"admin|click|gateway|attribution|commission|delivery"})',
    );
    const [sample] = (up.data?.result ?? []) as { value: [number, string] }[];
    expect(sample?.value[1]).toBe("6");
  });

  test("every dashboard panel and variable query returns data", async () => {
    const empty: string[] = [];
    for (const q of [...dashboardQueries(), ...variableSelectors()]) {
      const res = await prometheus.query(expandVariables(q.expr));
      if (res.status !== "success") empty.push(`${q.dashboard} / ${q.panel}: ${res.error}`);
      else if ((res.data?.result.length ?? 0) === 0)
        empty.push(`${q.dashboard} / ${q.panel} [${q.refId}]: no data`);
    }
    expect(empty).toEqual([]);
  });

  test("the recording rules evaluate to the observed success rates", async () => {
    const rate = await prometheus.query("roundtrip:postback_success:ratio_rate5m");
    const value = Number((rate.data?.result[0] as { value: [number, string] } | undefined)?.value[1]);
    // 6 of the 9 postbacks of each round were accepted or duplicate (3 were refused at the gateway).
    expect(value).toBeCloseTo(6 / 9, 1);
  });
});
