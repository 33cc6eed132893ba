/**
 * issue 9: start in any order. The six services started while NATS is down wait for it (alive,
 * not ready), and once it starts they become ready and carry a round trip, with no restart and no
 * provisioning step.
 */
import { afterAll, expect, test } from "bun:test";
import { freePortsFor, NatsServer, SERVICE_NAMES, type ServiceName } from "@roundtrip/stack";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { FAULT_ENV } from "./support/fault.ts";
import { createProgram } from "./support/fixtures.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

/**
 * NATS stays down until every service has shown it is up and waiting (alive, /readyz 503), and
 * then this much longer, so each has retried the broker at least once. A machine busy enough to
 * start bun slowly only makes this phase longer, never shorter.
 */
const WAITING_AT_LEAST_MS = 3_000;
/** Bound on the NATS-down phase. */
const NATS_DOWN_MAX_MS = 45_000;

const nats = new NatsServer();
const affiliate = startAffiliateEndpoint();
let env: TestStack | undefined;

afterAll(async () => {
  await env?.stop();
  affiliate.stop();
  await nats.dispose();
}, 60_000);

type Probe = { status: number | string; body: string };

async function probe(url: string): Promise<Probe> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return { status: res.status, body: (await res.text()).slice(0, 200) };
  } catch (err) {
    return { status: (err as Error).name, body: "" };
  }
}

test("services started while NATS is down wait (alive, not ready) and become ready once it starts, without a restart", async () => {
  const ports = freePortsFor(SERVICE_NAMES);
  const urls = Object.fromEntries(SERVICE_NAMES.map((n) => [n, `http://127.0.0.1:${ports[n]}`])) as Record<
    ServiceName,
    string
  >;
  const starting = startTestStack("faultorder", FAULT_ENV, {
    natsUrl: nats.url,
    provision: false,
    ports,
    readyTimeoutMs: 90_000,
  });
  let startError: unknown;
  let started = false;
  starting.then(
    (stack) => {
      env = stack;
      started = true;
    },
    (err) => {
      startError = err;
    },
  );

  // NATS is down: every service comes up (alive, not ready) and waits; none may claim to be
  // ready, and none may give up (exit).
  const readyWhileDown = new Set<ServiceName>();
  const waiting = new Map<ServiceName, Probe>();
  const downSince = Date.now();
  let allWaitingAt: number | undefined;
  while (startError === undefined && !started && Date.now() - downSince < NATS_DOWN_MAX_MS) {
    for (const name of SERVICE_NAMES) {
      const [alive, ready] = await Promise.all([
        probe(`${urls[name]}/healthz`),
        probe(`${urls[name]}/readyz`),
      ]);
      if (ready.status === 200) readyWhileDown.add(name);
      if (alive.status === 200 && ready.status === 503) waiting.set(name, ready);
    }
    if (allWaitingAt === undefined && waiting.size === SERVICE_NAMES.length) allWaitingAt = Date.now();
    if (allWaitingAt !== undefined && Date.now() - allWaitingAt >= WAITING_AT_LEAST_MS) break;
    await Bun.sleep(250);
  }
  if (startError) throw startError; // e.g. "gateway exited with code 1 before it became ready" + its log
  const seen = SERVICE_NAMES.map((n) => `${n}: ${waiting.get(n)?.body || "never answered 503"}`);
  console.log(
    `NATS down for ${((Date.now() - downSince) / 1000).toFixed(1)} s; /readyz said\n  ${seen.join("\n  ")}`,
  );
  expect(started).toBe(false);
  expect([...readyWhileDown]).toEqual([]);
  expect([...waiting.keys()].sort()).toEqual([...SERVICE_NAMES].sort());

  await nats.start();
  const stack = await starting;
  for (const name of SERVICE_NAMES) expect((await probe(`${urls[name]}/readyz`)).status).toBe(200);

  // A round trip through the broker the services found by themselves.
  const program = await createProgram(stack.admin, { postbackUrl: affiliate.url });
  const location = await eventually(async () => {
    const r = await fetch(`${urls.click}/c/${program.link.code}`, { redirect: "manual" });
    return r.status === 302 ? (r.headers.get("location") ?? undefined) : undefined;
  }, "the tracking link to redirect");
  const clickId = new URL(location).searchParams.get("cid") as string;
  const query = new URLSearchParams({
    token: program.advertiser.token,
    click_id: clickId,
    txid: "order-1",
    event: "ftd",
  });
  const res = await fetch(`${urls.gateway}/postback?${query}`);
  expect(res.status).toBe(200);
  const sent = await eventually(
    async () => affiliate.received.find((p) => p.url.searchParams.get("cid") === clickId),
    "the affiliate postback",
    30_000,
  );
  expect(sent.url.searchParams.get("tx")).toBe("order-1");
  const [booked] = await stack.sql`
      select count(*)::int as n from ledger_entries l join conversions c on c.id = l.conversion_id
      where c.click_id = ${clickId} and l.type = 'commission'`;
  expect(booked?.n).toBe(1);
}, 170_000);
