import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { createProgram, type Program } from "./support/fixtures.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

/**
 * kill -9 of the delivery process while it is sending (issue 9, item 6): the affiliate endpoint
 * holds every request open, so each of the endpoint's slots is mid-send when the process dies.
 */
const POSTBACKS = 10;
const SLOTS = 4; // DELIVERY_ENDPOINT_CONCURRENCY
const LEASE_MS = 11_000; // DELIVERY_TIMEOUT_MS + the 5 s margin the sender requires

let env: TestStack;
let program: Program;
let holding = true;
const affiliate = startAffiliateEndpoint(async () => {
  // Held until the process on the other end dies (its socket closes) or the test lets go.
  while (holding) await Bun.sleep(50);
  return new Response("ok");
});

beforeAll(async () => {
  env = await startTestStack("deliverycrash", {
    DELIVERY_ENDPOINT_CONCURRENCY: String(SLOTS),
    DELIVERY_TIMEOUT_MS: "6000",
    DELIVERY_LEASE_MS: String(LEASE_MS),
  });
  program = await createProgram(env.admin, { postbackUrl: affiliate.url });
}, 120_000);

afterAll(async () => {
  holding = false;
  await env?.stop();
  affiliate.stop();
}, 60_000);

async function click(): Promise<string> {
  const res = await eventually(async () => {
    const r = await fetch(`${env.urls.click}/c/${program.link.code}`, { redirect: "manual" });
    return r.status === 302 ? r : undefined;
  }, "the tracking link to redirect");
  return new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
}

describe("delivery killed mid-send", () => {
  test("strands at most one row per request in flight; after a restart every postback arrives, resends keep their webhook-id, and the log shows the interrupted attempts", async () => {
    for (let i = 0; i < POSTBACKS; i++) {
      const clickId = await click();
      const res = await fetch(
        `${env.urls.gateway}/postback?${new URLSearchParams({
          token: program.advertiser.token,
          click_id: clickId,
          txid: `crash-${i}`,
          event: "ftd",
          amount: "10.00",
        })}`,
      );
      expect(res.status).toBe(200);
    }
    await eventually(async () => {
      const [{ n }] = (await env.sql`select count(*)::int as n from deliveries`) as unknown as [
        { n: number },
      ];
      return n === POSTBACKS && affiliate.received.length >= SLOTS;
    }, "every delivery planned and the endpoint's slots busy");
    await Bun.sleep(300); // a claim racing the last check would show up now

    const sender = env.stack.services.delivery;
    sender.kill("SIGKILL");
    await sender.exited;

    // Leased = claimed by the dead process and not due again before the lease runs out.
    const leased = await env.sql`
      select id from deliveries where status = 'pending' and next_attempt_at > now() + interval '1 second'`;
    const started = await env.sql`select delivery_id from delivery_attempts where outcome = 'started'`;
    console.log(`kill -9 with ${affiliate.received.length} requests held: ${leased.length} rows leased`);
    expect(affiliate.received).toHaveLength(SLOTS);
    expect(leased.length).toBeLessThanOrEqual(SLOTS);
    expect(started.map((r) => r.delivery_id).sort()).toEqual(leased.map((r) => r.id).sort());

    holding = false;
    await env.stack.restart("delivery");
    const delivered = await eventually(
      async () => {
        const rows = await env.sql`select id from deliveries where status = 'delivered'`;
        return rows.length === POSTBACKS ? rows : undefined;
      },
      "every postback delivered after the restart",
      LEASE_MS + 20_000,
    );
    expect(delivered).toHaveLength(POSTBACKS);

    // One webhook-id per delivery, and every request for it carried that one.
    const byId = new Map<string | null, typeof affiliate.received>();
    for (const r of affiliate.received) {
      const id = r.headers.get("webhook-id");
      byId.set(id, [...(byId.get(id) ?? []), r]);
    }
    expect(byId.size).toBe(POSTBACKS);
    const resent = [...byId.entries()].filter(([, requests]) => requests.length > 1).map(([id]) => id);
    expect(resent.sort()).toEqual(leased.map((r) => `dlv_${r.id}`).sort());
    for (const [, requests] of byId) expect(requests.length).toBeLessThanOrEqual(2);

    const log = await env.sql`
      select delivery_id, attempt, outcome from delivery_attempts order by delivery_id, attempt`;
    const interrupted = log.filter((r) => r.outcome === "interrupted");
    expect(interrupted.map((r) => r.delivery_id).sort()).toEqual(leased.map((r) => r.id).sort());
    for (const i of interrupted) {
      expect(log.filter((r) => r.delivery_id === i.delivery_id).map((r) => [r.attempt, r.outcome])).toEqual([
        [1, "interrupted"],
        [2, "delivered"],
      ]);
    }
    expect(log.filter((r) => r.outcome === "started")).toHaveLength(0);
  }, 90_000);
});
