/**
 * issue 9: the broker loses its store under load (stop nats-server, delete its JetStream store,
 * start it again, keep sending). PostgreSQL is the record: every acknowledged postback still ends
 * as exactly one conversion, ledger entry and delivered affiliate postback, with no manual step
 * (no provisioning, no service restart). Prints the recovery time.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { NatsServer, SERVICE_NAMES } from "@roundtrip/stack";
import { describeAudit, untilExactlyOnce } from "./support/exactly-once.ts";
import {
  type FaultRig,
  failureContext,
  loadTarget,
  startFaultRig,
  untilLinkRedirects,
} from "./support/fault.ts";
import { type Journey, Load, resendPostback } from "./support/load.ts";

/** Load before the broker goes down, so its streams hold events nobody has handled yet. */
const LOAD_BEFORE_LOSS_MS = 2_500;
/** How long the broker stays down (the gateway keeps acknowledging: PostgreSQL is the record). */
const OUTAGE_MS = 2_000;
/** The reconciler re-checks owed events after 30 s by default; recovery must fit well inside this. */
const SETTLE_TIMEOUT_MS = 120_000;

let nats: NatsServer;
let rig: FaultRig;

beforeAll(async () => {
  nats = new NatsServer();
  await nats.start();
  rig = await startFaultRig("faultstore", nats);
  await untilLinkRedirects(rig);
}, 180_000);

afterAll(async () => {
  await rig?.stop();
  await nats?.dispose();
}, 60_000);

test("nats-server loses its store under load: every acknowledged postback converted, booked and delivered exactly once, by itself", async () => {
  const load = new Load({
    ...loadTarget(rig),
    ratePerSecond: 50,
    maxJourneys: 400, // 8 s of load: before, during and after the outage
    txPrefix: `store-${crypto.randomUUID().slice(0, 6)}`,
  });
  const sending = load.start();

  await Bun.sleep(LOAD_BEFORE_LOSS_MS);
  const stoppedAt = Date.now();
  await nats.stop();
  nats.wipeStore();
  await Bun.sleep(OUTAGE_MS);
  await nats.start();
  const brokerStartedAt = Date.now();
  await sending;
  console.log(load.summary());

  const input = {
    sql: rig.env.sql,
    advertiserId: rig.program.advertiser.id,
    journeys: load.journeys,
    received: rig.affiliate.received,
  };
  const audit = await untilExactlyOnce(input, SETTLE_TIMEOUT_MS);
  console.log(describeAudit(audit));
  // Each stage's last write after the broker came back, to see where the recovery time goes.
  const [stages] = await rig.env.sql`
    select extract(epoch from max(c.created_at)) * 1000 as converted,
      extract(epoch from max(l.created_at)) * 1000 as booked,
      extract(epoch from max(d.delivered_at)) * 1000 as delivered
    from conversions c
    left join ledger_entries l on l.conversion_id = c.id
    left join deliveries d on d.conversion_id = c.id
    where c.advertiser_id = ${rig.program.advertiser.id}`;
  // Conversions that took long, by when their postback was acknowledged: where the tail comes from.
  const [slow] = await rig.env.sql`
    select count(*) filter (where r.received_at < to_timestamp(${stoppedAt / 1000}))::int as before,
      count(*) filter (where r.received_at >= to_timestamp(${stoppedAt / 1000})
                         and r.received_at < to_timestamp(${brokerStartedAt / 1000}))::int as during,
      count(*) filter (where r.received_at >= to_timestamp(${brokerStartedAt / 1000}))::int as after
    from conversions c join postback_receipts r on r.id = c.receipt_id
    where c.advertiser_id = ${rig.program.advertiser.id} and c.created_at > r.received_at + interval '10 seconds'`;
  console.log(
    `conversions made over 10 s after their postback: ${slow?.before} acknowledged before the broker stopped, ` +
      `${slow?.during} while it was down, ${slow?.after} after it was back`,
  );
  const since = (ms: unknown) =>
    ms == null ? "-" : `${((Number(ms) - brokerStartedAt) / 1000).toFixed(1)} s`;
  console.log(
    `recovery time: ${since(audit.lastFirstReceivedAt)} from broker start to the last acknowledged postback ` +
      `delivered (last conversion ${since(stages?.converted)}, last ledger entry ${since(stages?.booked)}, ` +
      `last delivery ${since(stages?.delivered)})`,
  );
  const context = failureContext(rig, nats, [load], audit);
  if (context) console.log(context);

  const n = audit.counts.acknowledged;
  expect(n).toBeGreaterThan(100);
  expect(audit.problems).toEqual([]);
  expect(audit.counts).toEqual({ acknowledged: n, converted: n, booked: n, delivered: n, webhookIds: n });
  expect(load.journeys.filter((j) => j.outcome === "failed").map((j) => `${j.txid}: ${j.lastError}`)).toEqual(
    [],
  );
  // The operator hears of it: an error-level line naming the loss (not only warnings while nothing moves).
  const errorLines = SERVICE_NAMES.flatMap((name) =>
    rig.env.stack.services[name]
      .logTail(500)
      .split("\n")
      .filter((l) => /"level":"error"/.test(l) && /re-provision|lost/i.test(l)),
  );
  expect(errorLines.length).toBeGreaterThan(0);

  // The advertiser resends postbacks it is unsure about: one acknowledged just before the store
  // went (its event was in the lost stream) and one acknowledged while the broker was down.
  const acked = load.acknowledged();
  const ackedIn = (from: number, to: number) =>
    acked.filter((j) => (j.ackedAt ?? 0) >= from && (j.ackedAt ?? 0) < to);
  const resent: Journey[] = [
    ...ackedIn(stoppedAt - 1_000, stoppedAt).slice(-1),
    ...ackedIn(stoppedAt, brokerStartedAt).slice(-1),
  ];
  expect(resent.length).toBeGreaterThan(0);
  for (const j of resent) {
    const answer = await resendPostback(loadTarget(rig), j);
    expect({ txid: j.txid, status: answer.status, duplicate: answer.duplicate }).toEqual({
      txid: j.txid,
      status: 200,
      duplicate: true,
    });
  }
  await Bun.sleep(2_000); // room for a second conversion or delivery to show up
  const after = await untilExactlyOnce(input, 0);
  expect(after.problems).toEqual([]);
  const converted = await rig.env.sql`
      select txid, count(*)::int as n from conversions
      where advertiser_id = ${rig.program.advertiser.id} and txid in ${rig.env.sql(resent.map((j) => j.txid))}
      group by txid order by txid`;
  expect([...converted]).toEqual(
    resent.map((j) => ({ txid: j.txid, n: 1 })).sort((a, b) => a.txid.localeCompare(b.txid)),
  );
}, 200_000);
