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
/** Each victim dies this long into a fresh burst of load, so it has work in flight. */
const KILL_AFTER_MS = 1_000;
/** One burst per victim: bounded in count whatever the restarts cost (a slow one overlaps the next burst). */
const BURST = { ratePerSecond: 25, maxJourneys: 50 };
/** How long the pipeline may take to settle after the load (redeliveries, leases, reconciliation). */
const SETTLE_TIMEOUT_MS = 90_000;

let nats: NatsServer;
let rig: FaultRig;

beforeAll(async () => {
  nats = new NatsServer();
  await nats.start();
  rig = await startFaultRig("faultkill", nats);
  await untilLinkRedirects(rig);
}, 180_000);

afterAll(async () => {
  await rig?.stop();
  await nats?.dispose();
}, 60_000);

test("kill -9 of each service and of nats-server under load: every acknowledged postback converted, booked and delivered exactly once", async () => {
  const run = crypto.randomUUID().slice(0, 6);
  const loads: Load[] = [];
  const restarts: string[] = [];
  for (const victim of VICTIMS) {
    // A visitor or advertiser retries over a restart, however long it takes on a busy machine.
    const load = new Load({
      ...loadTarget(rig),
      ...BURST,
      journeyDeadlineMs: 60_000,
      txPrefix: `${run}-${victim}`,
    });
    loads.push(load);
    void load.start();
    await Bun.sleep(KILL_AFTER_MS);
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
  await Promise.all(loads.map((l) => l.stop()));
  console.log(`kill -9 and ready again: ${restarts.join(", ")}`);
  const journeys = loads.flatMap((l) => l.journeys);

  const audit = await untilExactlyOnce(
    { sql: rig.env.sql, advertiserId: rig.program.advertiser.id, journeys, received: rig.affiliate.received },
    SETTLE_TIMEOUT_MS,
  );
  console.log(describeAudit(audit));
  const context = failureContext(rig, nats, loads, audit);
  if (context) console.log(context);

  const n = audit.counts.acknowledged;
  expect(audit.problems).toEqual([]);
  expect(audit.counts).toEqual({ acknowledged: n, converted: n, booked: n, delivered: n, webhookIds: n });
  // No click was lost, so every affiliate postback carries its click's sub1, even for a postback
  // that overtook its click (the conversion waits for the click row: click-wait.ts).
  expect(audit.withoutSub1).toBe(0);
  // Every journey got its 200 in the end.
  expect(journeys.filter((j) => j.outcome === "failed").map((j) => `${j.txid}: ${j.lastError}`)).toEqual([]);
  expect(n).toBe(VICTIMS.length * BURST.maxJourneys);
}, 220_000);
