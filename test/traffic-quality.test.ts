import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { createProgram, type Program } from "./support/fixtures.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

/**
 * Traffic-quality rules end to end, across the six real processes: a rule set through the admin
 * API holds conversions, the review queue lists them with what the rule measured, a bulk
 * rejection reaches the affiliate's postback with {status} and {reject_reason}, an approval
 * releases the advertiser's withheld approval, every decision is audited, and the rule hits are
 * counted in attribution's metrics and shown in the trace.
 */
let env: TestStack;
let program: Program;
const affiliate = startAffiliateEndpoint();
const CHROME =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

beforeAll(async () => {
  env = await startTestStack("trafficq");
  program = await createProgram(env.admin, { postbackUrl: affiliate.url });
  // A template for this offer that says why (more specific than the program's global one).
  await env.admin.post("/v1/affiliate-postbacks", {
    affiliate_id: program.affiliate.id,
    offer_id: program.offer.id,
    url_template: `${affiliate.url}/rq?cid={click_id}&st={status}&why={reject_reason}`,
  });
}, 120_000);

afterAll(async () => {
  await env?.stop();
  affiliate.stop();
}, 60_000);

const put = async (path: string, body: unknown) => {
  const res = await fetch(`${env.urls.admin}${path}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${env.adminKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return res.json();
};

async function clickAndConvert(txid: string): Promise<string> {
  const res = await eventually(async () => {
    const r = await fetch(`${env.urls.click}/c/${program.link.code}`, {
      redirect: "manual",
      headers: { "user-agent": CHROME },
    });
    return r.status === 302 ? r : undefined;
  }, "the link to redirect");
  const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
  const pb = await fetch(
    `${env.urls.gateway}/postback?${new URLSearchParams({
      token: program.advertiser.token,
      click_id: clickId,
      txid,
      event: "ftd",
      status: "approved",
      amount: "50",
    })}`,
  );
  expect(pb.status).toBe(200);
  return clickId;
}

const sentFor = (clickId: string, status: string) =>
  eventually(
    async () =>
      affiliate.received.find(
        (p) =>
          p.url.pathname === "/rq" &&
          p.url.searchParams.get("cid") === clickId &&
          p.url.searchParams.get("st") === status,
      ),
    `the affiliate's ${status} postback`,
    30_000,
  );

describe("rules, review queue and rejection postbacks", () => {
  test("a CTIT hold keeps approved conversions pending; bulk reject fires {reject_reason}; approve releases the approval", async () => {
    // Every real click converts within an hour here: the rule holds each one.
    await put("/v1/traffic-rules", {
      offer_id: program.offer.id,
      reason: "ctit_too_fast",
      event: "ftd",
      threshold: 3600,
      action: "hold",
    });
    const rejectMe = await clickAndConvert(`rq-${crypto.randomUUID().slice(0, 8)}`);
    const approveMe = await clickAndConvert(`rq-${crypto.randomUUID().slice(0, 8)}`);
    type Queue = {
      data: {
        conversion_id: string;
        click_id: string;
        state: string;
        status: string;
        rules: { reason: string; measured: { ctit_seconds: number } }[];
      }[];
    };
    const queue = await eventually(
      async () => {
        const q = await env.admin.get<Queue>(
          `/v1/reviews?state=held&reason=ctit_too_fast&offer_id=${program.offer.id}`,
        );
        return q.data.length === 2 ? q : undefined;
      },
      "both conversions in the review queue",
      30_000,
    );
    for (const item of queue.data) {
      expect(item).toMatchObject({ state: "held", status: "pending" });
      expect(item.rules[0]?.reason).toBe("ctit_too_fast");
      expect(item.rules[0]?.measured.ctit_seconds).toBeLessThan(3600);
    }
    const byClick = (clickId: string) =>
      queue.data.find((x) => x.click_id === clickId)?.conversion_id as string;
    await sentFor(rejectMe, "pending");

    const rejected = await env.admin.post<{ results: { result: string; receipt_id: string | null }[] }>(
      "/v1/reviews/decisions",
      { conversion_ids: [byClick(rejectMe)], decision: "reject" },
    );
    expect(rejected.results[0]).toMatchObject({ result: "rejected" });
    expect(rejected.results[0]?.receipt_id).not.toBeNull();
    const sent = await sentFor(rejectMe, "rejected");
    expect(sent.url.searchParams.get("why")).toBe("ctit_too_fast");

    await env.admin.post("/v1/reviews/decisions", {
      conversion_ids: [byClick(approveMe)],
      decision: "approve",
    });
    await sentFor(approveMe, "approved");
    const [row] = await env.sql`select status from conversions where id = ${byClick(approveMe)}`;
    expect(row?.status).toBe("approved");

    // Deciding again changes nothing.
    const again = await env.admin.post<{ results: { result: string }[] }>("/v1/reviews/decisions", {
      conversion_ids: [byClick(approveMe)],
      decision: "reject",
    });
    expect(again.results[0]?.result).toBe("already_decided");
    const audit = await env.sql`select action from audit_log where resource = 'conversions' order by id`;
    expect(audit.map((a) => a.action)).toEqual(["review_reject", "review_approve"]);

    const trace = await env.admin.get<{
      conversions: { rules: { reason: string }[]; review: { state: string; reject_reason: string } }[];
      timeline: { kind: string; summary: string }[];
    }>(`/v1/trace?conversion_id=${byClick(rejectMe)}`);
    expect(trace.conversions[0]?.rules.map((r) => r.reason)).toEqual(["ctit_too_fast"]);
    expect(trace.conversions[0]?.review).toMatchObject({ state: "rejected", reject_reason: "ctit_too_fast" });
    expect(trace.timeline.some((e) => e.kind === "rule" && e.summary.includes("ctit_too_fast"))).toBe(true);

    // Grouped by reason code: the rule's conversions by outcome, and a bot's click.
    await fetch(`${env.urls.click}/c/${program.link.code}`, {
      redirect: "manual",
      headers: { "user-agent": "curl/8.5.0" },
    });
    type Quality = {
      clicks: { reason: string; clicks: number }[];
      conversions: { reason: string; action: string; conversions: number; rejected: number; held: number }[];
    };
    const report = await eventually(async () => {
      const q = await env.admin.get<Quality>(`/v1/reports/traffic-quality?offer_id=${program.offer.id}`);
      return q.clicks.some((c) => c.reason === "bot") ? q : undefined;
    }, "the bot's click in the traffic-quality report");
    expect(report.clicks).toEqual([{ reason: "bot", clicks: 1 }]);
    expect(report.conversions).toEqual([
      { reason: "ctit_too_fast", action: "hold", conversions: 2, rejected: 1, held: 0 },
    ]);

    const metrics = await (await fetch(`${env.urls.attribution}/metrics`)).text();
    expect(metrics).toMatch(
      /roundtrip_traffic_rule_hits_total\{reason="ctit_too_fast",action="hold",on="conversion"[^}]*\} 2/,
    );
    // The anomaly alerts' inputs: one series per affiliate and per offer.
    const series = (name: string, label: string, id: string) =>
      Number(metrics.match(new RegExp(`${name}\\{${label}="${id}"[^}]*\\} (\\d+)`))?.[1] ?? 0);
    expect(series("roundtrip_affiliate_conversions_total", "affiliate", program.affiliate.id)).toBe(2);
    expect(series("roundtrip_offer_conversions_total", "offer", program.offer.id)).toBe(2);
    // Clicks are counted when attribution stores their batch, which nothing above waited for.
    await eventually(async () => {
      const now = await (await fetch(`${env.urls.attribution}/metrics`)).text();
      const n = now.match(
        new RegExp(`roundtrip_affiliate_clicks_total\\{affiliate="${program.affiliate.id}"[^}]*\\} (\\d+)`),
      );
      return Number(n?.[1] ?? 0) >= 2;
    }, "both clicks counted for the affiliate");
  }, 120_000);
});
