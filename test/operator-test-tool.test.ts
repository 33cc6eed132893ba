/**
 * The operator test tool against the six real services: a test postback fired from admin through
 * the real gateway, and every decision watched as it happens — by polling and as server-sent
 * events — until the affiliate's endpoint has the postback; a minted click on the tool's own
 * test link; a wrong token stopping at the gateway.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { createProgram, type Program } from "./support/fixtures.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

type Step = { step: string; state: string; detail: string };
type Steps = { steps: Step[]; done: boolean };
type Fired = {
  click_id: string;
  txid: string;
  gateway: { status: number; body: Record<string, unknown> };
  watch: string;
};

let env: TestStack;
let affiliate: ReturnType<typeof startAffiliateEndpoint>;
let program: Program;

beforeAll(async () => {
  affiliate = startAffiliateEndpoint();
  env = await startTestStack("testtool");
  program = await createProgram(env.admin, { postbackUrl: affiliate.url });
}, 120_000);

afterAll(async () => {
  await env?.stop();
  affiliate?.stop();
}, 60_000);

/** Polls the watch URL until every step is decided; returns each distinct picture seen on the way. */
async function watch(path: string): Promise<Steps[]> {
  const seen: Steps[] = [];
  await eventually(
    async () => {
      const steps = await env.admin.get<Steps>(path);
      const last = seen.at(-1);
      if (!last || JSON.stringify(last.steps) !== JSON.stringify(steps.steps)) seen.push(steps);
      return steps.done;
    },
    "every step decided",
    60_000,
  ).catch((err) => {
    throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(seen.at(-1)?.steps)}`);
  });
  return seen;
}

const states = (s: Steps) => Object.fromEntries(s.steps.map((x) => [x.step, x.state]));

describe("the operator test tool", () => {
  test("a real click's postback: each decision passes, ending with the affiliate's postback delivered", async () => {
    const res = await eventually(async () => {
      const r = await fetch(`${env.urls.click}/c/${program.link.code}`, {
        redirect: "manual",
        headers: { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0" },
      });
      return r.status === 302 ? r : undefined;
    }, "the link to redirect");
    const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
    const fired = await env.admin.post<Fired>("/v1/test-postbacks", {
      offer_id: program.offer.id,
      token: program.advertiser.token,
      event: "ftd",
      amount: "50.00",
      click_id: clickId,
    });
    expect(fired.gateway).toMatchObject({ status: 200, body: { status: "accepted", duplicate: false } });
    expect(fired.txid).toStartWith("test-");
    const seen = await watch(fired.watch);
    const last = seen.at(-1) as Steps;
    expect(states(last)).toEqual({
      auth: "passed",
      click_id: "passed",
      dedup: "passed",
      attribution: "passed",
      booking: "passed",
      delivery: "passed",
    });
    expect(last.steps.find((s) => s.step === "booking")?.detail).toContain("commission 25");
    const sent = affiliate.received.find((p) => p.url.searchParams.get("tx") === fired.txid);
    expect(sent?.url.searchParams.get("cid")).toBe(clickId);
    // the token went to the gateway only: not in the audit entry, the answer or the trace
    const audit = await env.admin.get<{ data: Record<string, unknown>[] }>(
      "/v1/audit-log?action=test-postback&resource=advertisers",
    );
    expect(JSON.stringify(audit.data)).not.toContain(program.advertiser.token);
    expect(JSON.stringify(last)).not.toContain(program.advertiser.token);
  });

  test("without a click ID: a minted click on the tool's test link, attributed as test traffic that moves no money", async () => {
    const fired = await env.admin.post<Fired>("/v1/test-postbacks", {
      offer_id: program.offer.id,
      token: program.advertiser.token,
      event: "ftd",
    });
    expect(fired.gateway.status).toBe(200);
    const last = (await watch(fired.watch)).at(-1) as Steps;
    expect(states(last)).toMatchObject({ attribution: "passed", booking: "skipped", delivery: "skipped" });
    expect(last.steps.find((s) => s.step === "booking")?.detail).toContain("test traffic");
    expect(last.steps.find((s) => s.step === "click_id")?.detail).toContain("Operator test postbacks");
    const [conversion] = await env.sql`select is_test from conversions where txid = ${fired.txid}`;
    expect(conversion?.is_test).toBe(true);
    // the tool's link is reused, not created per test
    const again = await env.admin.post<Fired>("/v1/test-postbacks", {
      offer_id: program.offer.id,
      token: program.advertiser.token,
      event: "registration",
    });
    const links = await env.sql`
      select l.id from links l join affiliates a on a.id = l.affiliate_id
      where a.name = 'Operator test postbacks' and l.offer_id = ${program.offer.id}`;
    expect(links.length).toBe(1);
    expect(again.gateway.status).toBe(200);
  });

  test("a wrong token stops at the gateway, and the stream says so and ends", async () => {
    const fired = await env.admin.post<Fired>("/v1/test-postbacks", {
      offer_id: program.offer.id,
      token: "not-the-token",
      event: "ftd",
    });
    expect(fired.gateway.status).toBe(401);
    const res = await fetch(`${env.urls.admin}${fired.watch.replace("/steps?", "/stream?")}`, {
      headers: { authorization: `Bearer ${env.adminKey}` },
      signal: AbortSignal.timeout(60_000),
    });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const text = await res.text();
    expect(text).toContain("event: end");
    const events = text
      .split("\n\n")
      .filter((e) => e.startsWith("event: steps"))
      .map((e) => JSON.parse(e.slice(e.indexOf("data: ") + 6)) as Steps);
    const last = events.at(-1) as Steps;
    expect(last.done).toBe(true);
    expect(states(last)).toEqual({
      auth: "failed",
      click_id: "skipped",
      dedup: "skipped",
      attribution: "skipped",
      booking: "skipped",
      delivery: "skipped",
    });
    expect(last.steps[0]?.detail).toContain("401");
  });

  test("a bad event code is refused naming the field, and nothing is sent", async () => {
    const res = await fetch(`${env.urls.admin}/v1/test-postbacks`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ offer_id: program.offer.id, token: "x", event: "nope!" }),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("event");
  });
});
