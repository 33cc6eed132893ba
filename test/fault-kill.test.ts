/**
 * issue 9: kill -9 each service and nats-server in turn under load (restarting each); every
 * postback the gateway acknowledged ends as exactly one conversion, one ledger entry and one
 * delivered affiliate postback, and the affiliate sees one webhook-id per conversion.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { NatsServer, type ServiceName } from "@roundtrip/stack";
import { describeAudit, untilExactlyOnce } from "./support/exactly-once.ts";
import {
  type FaultRig,
  failureContext,
  loadTarget,
  startFaultRig,
  untilLinkRedirects,
} from "./support/fault.ts";
import { Load } from "./support/load.ts";

/** The order of the issue; nats-server last, restarted on its store. */
const VICTIMS: Array<ServiceName | "nats-server"> = [
  "gateway",
  "attribution",
  "commission",
  "delivery",
  "click",
  "admin",
  "nats-server",
];
/** Load between two kills, so each victim dies with work in flight. */
const LOAD_BETWEEN_KILLS_MS = 1_500;
/** How long the pipeline may take to settle after the load (redeliveries, leases, reconciliation). */
const SETTLE_TIMEOUT_MS = 90_000;

let nats: NatsServer;
let rig: FaultRig;

beforeAll(async () => {
  nats = new NatsServer();
  await nats.start();
  rig = await startFaultRig("faultkill", nats);
  await untilLinkRedirects(rig);
}, 120_000);

afterAll(async () => {
  await rig?.stop();
  await nats?.dispose();
}, 60_000);

test("kill -9 of each service and of nats-server under load: every acknowledged postback converted, booked and delivered exactly once", async () => {
  const load = new Load({
    ...loadTarget(rig),
    ratePerSecond: 20,
    // Bounds the run if restarts are very slow; normally the load stops after the last restart.
    maxJourneys: 1_500,
    txPrefix: `kill-${crypto.randomUUID().slice(0, 6)}`,
  });
  const sending = load.start();

  const restarts: string[] = [];
  for (const victim of VICTIMS) {
    await Bun.sleep(LOAD_BETWEEN_KILLS_MS);
    const killedAt = Date.now();
    if (victim === "nats-server") {
      await nats.kill();
      await Bun.sleep(1_000); // long enough for the services to notice and the outboxes to fill
      await nats.start();
    } else {
      await rig.env.stack.kill(victim, "SIGKILL");
      await rig.env.stack.start(victim);
    }
    restarts.push(`${victim} ${Date.now() - killedAt} ms`);
  }
  await Bun.sleep(LOAD_BETWEEN_KILLS_MS);
  const stillSending = load.journeys.length < 1_500;
  await load.stop();
  await sending;
  console.log(`kill -9 and ready again: ${restarts.join(", ")}`);
  console.log(load.summary());

  const audit = await untilExactlyOnce(
    {
      sql: rig.env.sql,
      advertiserId: rig.program.advertiser.id,
      journeys: load.journeys,
      received: rig.affiliate.received,
    },
    SETTLE_TIMEOUT_MS,
  );
  console.log(describeAudit(audit));
  const context = failureContext(rig, nats, load, audit);
  if (context) console.log(context);

  const n = audit.counts.acknowledged;
  expect(n).toBeGreaterThan(100);
  expect(stillSending).toBe(true); // the load lasted until after the last kill
  expect(audit.problems).toEqual([]);
  expect(audit.counts).toEqual({ acknowledged: n, converted: n, booked: n, delivered: n, webhookIds: n });
  // Every journey got its 200 in the end (a visitor or advertiser retrying over a restart).
  expect(load.journeys.filter((j) => j.outcome === "failed").map((j) => `${j.txid}: ${j.lastError}`)).toEqual(
    [],
  );
}, 170_000);
