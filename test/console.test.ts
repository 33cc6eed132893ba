import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { createProgram, type Program } from "./support/fixtures.ts";
import { BROWSER_UA } from "./support/load.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

/**
 * The operator's console against the six real services: pause/resume reaching the click cache,
 * reports following real traffic through admin's own consumers, the conversion trace, and launch
 * validation passing on a correct setup and failing on broken ones.
 */

let env: TestStack;
let affiliate: ReturnType<typeof startAffiliateEndpoint>;
let program: Program;

beforeAll(async () => {
  affiliate = startAffiliateEndpoint();
  env = await startTestStack("console", { REPORTS_FOLD_INTERVAL_MS: "1000" });
  program = await createProgram(env.admin, { postbackUrl: affiliate.url });
}, 120_000);

afterAll(async () => {
  await env?.stop();
  affiliate?.stop();
}, 60_000);

const clickStatus = async (code: string) =>
  (await fetch(`${env.urls.click}/c/${code}`, { redirect: "manual" })).status;

async function click(query = ""): Promise<string> {
  const res = await eventually(async () => {
    // A browser's user agent: Bun's own is a bot to isbot, and reports count no bot clicks.
    const r = await fetch(`${env.urls.click}/c/${program.link.code}${query}`, {
      redirect: "manual",
      headers: { "user-agent": BROWSER_UA },
    });
    return r.status === 302 ? r : undefined;
  }, "the tracking link to redirect");
  return new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
}

const postback = (params: Record<string, string>, token = program.advertiser.token) =>
  fetch(`${env.urls.gateway}/postback?${new URLSearchParams({ token, ...params })}`);

type Run = {
  id: string;
  status: string;
  postback_success_rate: string | null;
  postbacks_sent: number;
  postbacks_ok: number;
  affiliate_ids: string[];
  checks: { name: string; status: string; detail: string; affiliate?: number }[];
};

async function validate(body: Record<string, unknown>): Promise<Run> {
  const started = await env.admin.post<Run>("/v1/validation-runs", {
    offer_id: program.offer.id,
    wait_seconds: 20,
    ...body,
  });
  expect(started.status).toBe("running");
  return eventually(
    async () => {
      const run = await env.admin.get<Run>(`/v1/validation-runs/${started.id}`);
      return run.status === "running" ? undefined : run;
    },
    "the validation run to finish",
    90_000,
  );
}

describe("pause and resume reach the click service", () => {
  test("a paused link, offer or affiliate stops redirecting, and resumes", async () => {
    await click();
    for (const [resource, id] of [
      ["links", program.link.id],
      ["offers", program.offer.id],
      ["affiliates", program.affiliate.id],
    ] as const) {
      const paused = Date.now();
      await env.admin.patch(`/v1/${resource}/${id}`, { status: "paused" });
      await eventually(
        async () => (await clickStatus(program.link.code)) === 404,
        `${resource} pause to reach the click cache`,
      );
      console.log(`${resource}: pause reached the click service in ${Date.now() - paused} ms`);
      await env.admin.patch(`/v1/${resource}/${id}`, { status: "active" });
      await eventually(
        async () => (await clickStatus(program.link.code)) === 302,
        `${resource} resume to reach the click cache`,
      );
    }
  });
});

describe("reports follow real traffic through admin's consumers", () => {
  test("clicks by sub1, a conversion with payout and revenue, and the postback quality report", async () => {
    const sub = `r${crypto.randomUUID().slice(0, 6)}`;
    const ids = [await click(`?sub1=${sub}`), await click(`?sub1=${sub}`), await click(`?sub1=${sub}`)];
    expect(
      (await postback({ click_id: ids[0] as string, txid: `rep-${sub}`, event: "ftd", amount: "80.00" }))
        .status,
    ).toBe(200);
    expect(
      (await postback({ click_id: ids[0] as string, txid: `rep-${sub}`, event: "ftd", amount: "80.00" }))
        .status,
    ).toBe(200);
    expect(
      (await postback({ click_id: ids[1] as string, txid: `bad-${sub}`, event: "ftd" }, "not-the-token"))
        .status,
    ).toBe(401);

    const row = await eventually(async () => {
      const r = await env.admin.get<{ rows: Record<string, unknown>[] }>(
        `/v1/reports/performance?group_by=offer,sub1&sub1=${sub}&offer_id=${program.offer.id}`,
      );
      const found = r.rows[0];
      return found && found.clicks === 3 && found.payout === "25.00" ? found : undefined;
    }, "the report to show the clicks and the booked conversion");
    const [raw] =
      await env.sql`select count(*) filter (where is_unique)::int as n from clicks where subs->>'sub1' = ${sub}`;
    expect(row).toMatchObject({
      clicks: 3,
      unique_clicks: raw?.n,
      conversions: 1,
      approved: 1,
      amount: "80.00",
      payout: "25.00",
      revenue: "40.00",
      profit: "15.00",
      cr: 0.3333,
    });

    const quality = await env.admin.get<{ rows: Record<string, unknown>[] }>(
      `/v1/reports/postbacks?group_by=advertiser&advertiser_id=${program.advertiser.id}`,
    );
    expect(quality.rows[0]).toMatchObject({ duplicates: expect.any(Number), rejected: expect.any(Number) });
    expect(quality.rows[0]?.rejected_by_reason).toMatchObject({ bad_token: 1 });
  });
});

describe("the conversion trace", () => {
  test("click, every request (token masked), dedup decisions, history, ledger and outbound attempts", async () => {
    const clickId = await click("?sub1=trace");
    await postback({ click_id: clickId, txid: "trace-1", event: "ftd", amount: "10.00" });
    await postback({ click_id: clickId, txid: "trace-1", event: "ftd", amount: "10.00" });
    await postback({ click_id: clickId, txid: "trace-bad", event: "ftd" }, "wrong-token-value");
    await eventually(
      async () => affiliate.received.some((r) => r.url.searchParams.get("cid") === clickId),
      "the affiliate postback",
    );

    type Trace = {
      clicks: { id_check: string; stored: boolean; link: { affiliate_id: string } }[];
      postback_requests: { outcome: string; params: Record<string, string> }[];
      receipts: { decision: string; retries_answered_duplicate: number }[];
      conversions: {
        status: string;
        history: unknown[];
        ledger: { type: string; payout: string }[];
        deliveries: { status: string; attempts: unknown[] }[];
      }[];
      timeline: { kind: string }[];
    };
    const trace = await eventually(async () => {
      const t = await env.admin.get<Trace>(`/v1/trace?click_id=${clickId}`);
      return t.conversions[0]?.deliveries[0]?.status === "delivered" && t.clicks[0]?.stored ? t : undefined;
    }, "the trace to show the delivered conversion");
    expect(trace.clicks[0]).toMatchObject({
      id_check: "valid",
      stored: true,
      link: { affiliate_id: program.affiliate.id },
    });
    expect(trace.postback_requests.map((r) => r.outcome).sort()).toEqual([
      "accepted",
      "duplicate",
      "unauthorized",
    ]);
    for (const r of trace.postback_requests) expect(r.params.token).toBe("***");
    expect(JSON.stringify(trace).includes(program.advertiser.token)).toBe(false);
    expect(trace.receipts[0]).toMatchObject({
      decision: expect.stringMatching(/^created conversion \d+ as approved$/),
      retries_answered_duplicate: 1,
    });
    expect(trace.conversions[0]).toMatchObject({
      status: "approved",
      ledger: [{ type: "commission", payout: "25.000000" }],
    });
    expect(trace.conversions[0]?.deliveries[0]?.attempts.length).toBeGreaterThanOrEqual(1);
    // `rule`: the default CTIT rule flags (pays, marks) a conversion seconds after its click.
    expect(new Set(trace.timeline.map((e) => e.kind))).toEqual(
      new Set(["click", "postback", "decision", "status", "rule", "ledger", "delivery"]),
    );
    // By txid it is the same journey.
    const byTxid = await env.admin.get<Trace>("/v1/trace?txid=trace-1");
    expect(byTxid.conversions.map((c) => c.status)).toEqual(["approved"]);
  });
});

describe("launch validation", () => {
  test("passes on a correct setup, and its test traffic stays out of reports", async () => {
    const run = await validate({ token: program.advertiser.token, affiliates: 3 });
    const failed = run.checks.filter((c) => c.status !== "pass");
    expect(failed).toEqual([]);
    expect(run.status).toBe("passed");
    expect(Number(run.postback_success_rate)).toBe(1);
    expect(run.postbacks_sent).toBe(7); // 3 × (registration + deposit) + the multi-touch visitor
    const names = new Set(run.checks.map((c) => c.name));
    for (const n of [
      "test_affiliates",
      "links_live",
      "click_redirect",
      "postbacks_accepted",
      "duplicate_postback",
      "multi_affiliate_visitor",
      "expired_click",
      "bad_token",
      "forged_click_id",
      "attributed",
      "test_traffic_flagged",
      "postback_success_rate",
    ]) {
      expect(names).toContain(n);
    }
    const flagged =
      await env.sql`select count(*)::int as n, bool_and(is_test) as all_test from conversions where txid like ${`vr${run.id}-%`}`;
    expect(flagged[0]).toEqual({ n: 7, all_test: true });
    // Test affiliates are invisible to reports (and their links are paused again).
    await Bun.sleep(1_500);
    const report = await env.admin.get<{ rows: { affiliate_id: string }[] }>(
      `/v1/reports/performance?group_by=affiliate&offer_id=${program.offer.id}`,
    );
    for (const id of run.affiliate_ids)
      expect(report.rows.map((r) => r.affiliate_id)).not.toContain(String(id));
    const [{ paused }] =
      (await env.sql`select bool_and(status = 'paused') as paused from links where affiliate_id = any(${run.affiliate_ids}::bigint[])`) as unknown as [
        { paused: boolean },
      ];
    expect(paused).toBe(true);
  }, 120_000);

  test("fails with the wrong advertiser token", async () => {
    const run = await validate({ token: `wrong-${crypto.randomUUID()}` });
    expect(run.status).toBe("failed");
    expect(Number(run.postback_success_rate)).toBe(0);
    expect(run.checks.filter((c) => c.name === "postbacks_accepted").every((c) => c.status === "fail")).toBe(
      true,
    );
    expect(run.checks.find((c) => c.name === "postback_success_rate")?.status).toBe("fail");
  }, 120_000);

  test("fails when the advertiser's landing page does not get the click ID it stores", async () => {
    // The offer sends the click ID as `cid`; this advertiser's landing page reads `clickid`.
    const run = await validate({ token: program.advertiser.token, landing_click_id_param: "clickid" });
    expect(run.status).toBe("failed");
    const redirects = run.checks.filter((c) => c.name === "click_redirect");
    expect(redirects.length).toBe(3);
    for (const c of redirects) {
      expect(c.status).toBe("fail");
      expect(c.detail).toContain("no clickid parameter");
    }
    expect(Number(run.postback_success_rate)).toBe(0);
  }, 120_000);
});
