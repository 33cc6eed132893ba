/**
 * issue 11: two replicas of every service over a three-node NATS cluster with R3 streams. Under
 * load: kill -9 one replica of each service, kill -9 one NATS node (and start it again), then
 * replace another node's store with an empty one. Every acknowledged postback ends as exactly one
 * conversion, one ledger entry and one delivered affiliate postback; every redirected click is stored.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { STREAM_KEYS } from "@roundtrip/bus";
import { NatsCluster, SERVICE_NAMES } from "@roundtrip/stack";
import { describeAudit, untilExactlyOnce } from "./support/exactly-once.ts";
import {
  type FaultRig,
  failureContext,
  loadTarget,
  startFaultRig,
  untilLinkRedirects,
} from "./support/fault.ts";
import { Load } from "./support/load.ts";
import { Replicas } from "./support/replicas.ts";
import { eventually } from "./support/test-stack.ts";

/**
 * One burst of journeys per fault and replica pair (each load drives one click and one gateway
 * replica, as a balancer would): bounded in count whatever the restarts cost on a busy machine
 * (a slow restart overlaps the next burst).
 */
const BURST = { ratePerSecond: 10, maxJourneys: 60 };
/** Each fault strikes this long into its burst, so every service has work in flight. */
const FAULT_AFTER_MS = 1_500;
/** How long the pipeline may take to settle after the load (redeliveries, leases, reconciliation). */
const SETTLE_TIMEOUT_MS = 180_000;

let cluster: NatsCluster;
let rig: FaultRig;
let replicas: Replicas;

beforeAll(async () => {
  cluster = new NatsCluster();
  await cluster.start();
  // Two connections a process: twelve processes share a PostgreSQL whose max_connections is not ours alone.
  rig = await startFaultRig("cluster", cluster, { env: { BUS_REPLICAS: "3", DATABASE_POOL_MAX: "2" } });
  replicas = new Replicas(rig.env, {
    logDir: process.env.FAULT_LOG_DIR ? join(process.env.FAULT_LOG_DIR, "cluster") : undefined,
  });
  // One at a time: twelve services starting at once on two busy cores only slow each other down.
  for (const name of SERVICE_NAMES) await replicas.start(name, 1);
  await untilLinkRedirects(rig);
}, 240_000);

afterAll(async () => {
  await replicas?.stop();
  await rig?.stop();
  await cluster?.dispose();
}, 60_000);

type StreamState = { replicas: number; peers: string };

/**
 * The run's streams: configured replicas, and "<peers> current" once the leader and every replica
 * are caught up ("behind" otherwise).
 */
async function streams(): Promise<Record<string, StreamState>> {
  const nc = await connect({ servers: cluster.url.split(","), timeout: 5_000 });
  try {
    const jsm = await jetstreamManager(nc);
    const out: Record<string, StreamState> = {};
    for await (const s of jsm.streams.list()) {
      if (!s.config.name.startsWith(`${rig.env.busPrefix}_`)) continue;
      const replicas = s.cluster?.replicas ?? [];
      const current = s.cluster?.leader !== undefined && replicas.every((r) => r.current && !r.offline);
      out[s.config.name.slice(rig.env.busPrefix.length + 1)] = {
        replicas: s.config.num_replicas,
        peers: `${replicas.length + (s.cluster?.leader ? 1 : 0)}${current ? " current" : " behind"}`,
      };
    }
    return out;
  } finally {
    await nc.close();
  }
}

test("two replicas of every service over a 3-node NATS cluster: kill -9 of a replica of each, of a node, and a node's store lost — nothing acknowledged lost or doubled", async () => {
  const configured = Object.entries(await streams()).map(([name, s]) => [name, s.replicas]);
  // Every stream of the topology, whichever were added since, is held by all three nodes.
  expect(Object.fromEntries(configured)).toEqual(Object.fromEntries(STREAM_KEYS.map((k) => [k, 3])));
  const run = crypto.randomUUID().slice(0, 6);
  const target = loadTarget(rig);
  const loads: Load[] = [];
  const steps: string[] = [];
  /** A burst through both replica pairs, and `fault` once it is under way. */
  const underLoad = async (what: string, fault: () => Promise<unknown>) => {
    for (const i of [0, 1]) {
      const load = new Load({
        ...target,
        clickUrl: replicas.get("click", i).url,
        gatewayUrl: replicas.get("gateway", i).url,
        ...BURST,
        journeyDeadlineMs: 120_000,
        txPrefix: `${run}-${loads.length}`,
      });
      loads.push(load);
      void load.start();
    }
    await Bun.sleep(FAULT_AFTER_MS);
    const t0 = Date.now();
    await fault();
    steps.push(`${what} ${Date.now() - t0} ms`);
  };

  await underLoad("kill -9 of replica 0 of every service and its restart", async () => {
    await Promise.all(SERVICE_NAMES.map((name) => replicas.kill(name, 0)));
    await Promise.all(SERVICE_NAMES.map((name) => replicas.restart(name, 0)));
  });
  await underLoad("kill -9 of NATS node 0 and its restart", async () => {
    await cluster.killNode(0);
    await Bun.sleep(2_000); // services on node 0 reconnect elsewhere; stream leaders there move
    await cluster.startNode(0);
    await cluster.untilJetStream();
  });
  await underLoad("NATS node 1 replaced with an empty store", () => cluster.replaceNodeStore(1));
  await Promise.all(loads.map((l) => l.start())); // every burst to its end (start() is idempotent)
  console.log(`faults: ${steps.join(", ")}`);
  for (const l of loads) console.log(l.summary());

  const journeys = loads.flatMap((l) => l.journeys);
  const audit = await untilExactlyOnce(
    { sql: rig.env.sql, advertiserId: rig.program.advertiser.id, journeys, received: rig.affiliate.received },
    SETTLE_TIMEOUT_MS,
  );
  console.log(describeAudit(audit));
  const replicaTails = SERVICE_NAMES.map((name) => `--- ${name} #1 ---\n${replicas.logTail(name, 1)}`);
  const context = failureContext(rig, cluster, loads, audit, replicaTails);
  if (context) console.log(context);

  const n = audit.counts.acknowledged;
  expect(audit.problems).toEqual([]);
  expect(audit.counts).toEqual({ acknowledged: n, converted: n, booked: n, delivered: n, webhookIds: n });
  // No click was lost, so every affiliate postback carries its click's sub1, even for a postback
  // that overtook its click (the conversion waits for the click row: click-wait.ts).
  expect(audit.withoutSub1).toBe(0);
  expect(journeys.filter((j) => j.outcome === "failed").map((j) => `${j.txid}: ${j.lastError}`)).toEqual([]);
  expect(n).toBe(journeys.length);

  // No click lost: every redirect the load followed has its row.
  const clickIds = journeys.flatMap((j) => (j.clickId ? [j.clickId] : []));
  const stored = await eventually(
    async () => {
      const [row] = await rig.env.sql<{ n: number }[]>`
        select count(distinct click_id)::int as n from clicks where click_id = any(${clickIds})`;
      return row && row.n === clickIds.length ? row.n : undefined;
    },
    "every redirected click to be stored",
    SETTLE_TIMEOUT_MS,
  ).catch(async (err) => {
    const [row] = await rig.env.sql<{ n: number }[]>`
      select count(distinct click_id)::int as n from clicks where click_id = any(${clickIds})`;
    throw new Error(`${(err as Error).message}: ${row?.n} of ${clickIds.length} stored`);
  });
  expect(stored).toBe(clickIds.length);

  // The node that lost its store holds every stream again: three peers each, all caught up.
  await eventually(
    async () => {
      const all = Object.values(await streams());
      return all.every((s) => s.peers === "3 current") ? true : undefined;
    },
    "every stream to have three current peers",
    SETTLE_TIMEOUT_MS,
  );
}, 480_000);
