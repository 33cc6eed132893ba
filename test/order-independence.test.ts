/**
 * Order independence as a property (issue 10). For one advertiser, fast-check generates what the
 * advertiser reports — several events per txid, status updates, amount and payout changes,
 * refunds and chargebacks by reference, pixel and S2S reports of the same conversion, repeats —
 * and this test applies it through the handlers the consumers run (attribution's `attribute`
 * and commission's `settle`, each inside `handleOnce`, the consumers' inbox transaction), over
 * real PostgreSQL:
 *
 * - once in the generated (canonical) order, then commission settling the changes in order;
 * - once in a generated permutation, with commission settling the changes in a generated order
 *   of its own, at generated points, with redeliveries;
 * - once with two attribution and two commission workers at the same time, each on its own
 *   connection, each taking its messages in generated batches as the consumers do
 *   (`attributeBatch` and `settleBatch` inside `handleBatchOnce`; a failing batch is handled
 *   again one by one).
 *
 * Every run must end in the same conversions (status, txid, source, amount, payout), the same
 * ledger per conversion and the same balance. On failure fast-check prints the shrunk
 * counterexample (the reports, the permutation) and the seed to replay it.
 *
 * Scope of the guarantee (docs/tracking.md): S2S reports carry a txid (without one, dedup by
 * click and event inside a window depends on arrival by nature); a transaction belongs to one
 * click; reports of one conversion carry one event time; pixels may omit the txid.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { attribute, attributeBatch } from "@roundtrip/attribution/src/conversions.ts";
import { handleBatchOnce, handleOnce } from "@roundtrip/bus";
import { ClickIdCodec } from "@roundtrip/clickid";
import { settle, settleBatch } from "@roundtrip/commission/src/ledger.ts";
import type { ConversionChanged, ConversionStatus, PostbackReceived } from "@roundtrip/contracts";
import { createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import fc from "fast-check";

const codec = ClickIdCodec.fromSpec(`t1:${"p".repeat(40)}`);
let db: TestDatabase;
let sql: Sql;

beforeAll(async () => {
  db = await createTestDatabase("order_independence");
  sql = db.sql;
});
afterAll(async () => {
  await db?.drop();
});

// ------------------------------------------------------------------ what an advertiser reports

const TXIDS = ["T1", "T2"] as const;
const CLICKS = 2;

type Msg =
  | {
      kind: "s2s";
      click: number;
      txid: (typeof TXIDS)[number];
      event: "ftd" | "deposit";
      status: ConversionStatus | null;
      amount: string | null;
      payout: string | null;
    }
  | {
      kind: "pixel";
      click: number;
      txid: (typeof TXIDS)[number] | null;
      event: "ftd" | "deposit";
      amount: string | null;
    }
  | { kind: "reversal"; click: number; event: "refund" | "chargeback"; ref: (typeof TXIDS)[number] };

const amount = fc.constantFrom(null, "10", "25.50", "100", "333.33");
// A transaction belongs to one click (T1 to the first, T2 to the second): an advertiser's
// transaction is one player's.
const txidOf = (click: number) => TXIDS[click] as (typeof TXIDS)[number];
const message: fc.Arbitrary<Msg> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .record({
        kind: fc.constant("s2s" as const),
        click: fc.nat(CLICKS - 1),
        event: fc.constantFrom("ftd" as const, "deposit" as const),
        status: fc.constantFrom(
          null,
          "pending",
          "approved",
          "rejected",
          "reversed",
        ) as fc.Arbitrary<ConversionStatus | null>,
        amount,
        payout: fc.constantFrom(null, null, "7"),
      })
      .map((m) => ({ ...m, txid: txidOf(m.click) })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        kind: fc.constant("pixel" as const),
        click: fc.nat(CLICKS - 1),
        withTxid: fc.boolean(),
        event: fc.constantFrom("ftd" as const, "deposit" as const),
        amount,
      })
      .map(({ withTxid, ...m }) => ({ ...m, txid: withTxid ? txidOf(m.click) : null })),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("reversal" as const),
      click: fc.nat(CLICKS - 1),
      event: fc.constantFrom("refund" as const, "chargeback" as const),
      ref: fc.constantFrom(...TXIDS),
    }),
  },
);

/**
 * A case: the reports (an entry may repeat an earlier one as the same message — a redelivery — or
 * as a new receipt with the same content), whether the advertiser's pixels set money, and the
 * random keys that order the other runs.
 */
const scenario = fc
  .record({
    messages: fc.array(message, { minLength: 1, maxLength: 9 }),
    repeats: fc.array(fc.record({ of: fc.nat(), sameMessage: fc.boolean() }), { maxLength: 3 }),
    pixelSetsMoney: fc.boolean(),
    // Orders for the permuted run: postbacks, and commission's changes; drain points.
    keys: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 12, maxLength: 12 }),
    commissionKeys: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 64, maxLength: 64 }),
    drains: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
    // How many postbacks each batch of the concurrent run's attribution workers takes.
    batches: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 12, maxLength: 12 }),
  })
  .map((s) => ({
    ...s,
    // Each entry is (index of the report it delivers, its receipt): a repeat of the same message
    // keeps the receipt (the inbox drops it), a resent report gets a receipt of its own.
    deliveries: [
      ...s.messages.map((_, i) => ({ msg: i, receipt: i })),
      ...s.repeats.map((r, j) => {
        const of = r.of % s.messages.length;
        return { msg: of, receipt: r.sameMessage ? of : s.messages.length + j };
      }),
    ],
  }));
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

// ------------------------------------------------------------------ one advertiser's program

type Program = {
  advertiser: string;
  brand: string;
  clicks: string[];
  receiptBase: number;
  /** Outbox rows before this program's: its changes are read from after here (cases run one by one). */
  outboxFrom: string;
};
let programs = 0;

/** A fresh brand, advertiser, offer (ftd pending, deposit approved), affiliate, link and payout rules. */
async function program(pixelSetsMoney: boolean): Promise<Program> {
  const n = ++programs;
  const [brand] = await sql`
    insert into brands (slug, name, currency, timezone) values (${`oi${n}`}, 'Brand', 'EUR', 'UTC') returning id`;
  const [adv] = await sql`
    insert into advertisers (brand_id, name, pixel_enabled, pixel_sets_money)
    values (${brand?.id}, 'Adv', true, ${pixelSetsMoney}) returning id`;
  const [offer] = await sql`
    insert into offers (brand_id, advertiser_id, name, destination_url, currency)
    values (${brand?.id}, ${adv?.id}, 'Offer', 'https://adv.example/?c={click_id}', 'EUR') returning id`;
  await sql`insert into offer_events ${sql([
    { offer_id: offer?.id, code: "ftd", window_days: 30, default_status: "pending" },
    { offer_id: offer?.id, code: "deposit", window_days: 30, default_status: "approved" },
  ])}`;
  const [aff] = await sql`insert into affiliates (name, payout_currency) values ('Aff', 'EUR') returning id`;
  const [link] = await sql`
    insert into links (code, offer_id, affiliate_id) values (${`oi${n}`}, ${offer?.id}, ${aff?.id}) returning id`;
  // CPA plus RevShare on both events; the advertiser's payout accepted on deposits.
  await sql`insert into payout_rules ${sql([
    {
      offer_id: offer?.id,
      event: "ftd",
      model: "hybrid",
      payout: "5",
      payout_percent: "10",
      revenue: "8",
      revenue_percent: "20",
      currency: "EUR",
      advertiser_payout: "ignore",
    },
    {
      offer_id: offer?.id,
      event: "deposit",
      model: "hybrid",
      payout: "2",
      payout_percent: "30",
      revenue: "0",
      revenue_percent: "50",
      currency: "EUR",
      advertiser_payout: "accept",
    },
  ])}`;
  const clickedAt = new Date(Date.UTC(2026, 0, 10, 12, 0, 0));
  const [outbox] = await sql`select coalesce(max(id), 0)::text as id from bus_outbox`;
  return {
    outboxFrom: outbox?.id as string,
    advertiser: adv?.id,
    brand: brand?.id,
    clicks: Array.from({ length: CLICKS }, () => codec.mint(Number(link?.id), clickedAt)),
    // Receipt ids keep their relative order in every run (ties between reports break on them).
    receiptBase: n * 1_000,
  };
}

/** Reports of one conversion share its event time; a refund has its own. */
function postback(p: Program, m: Msg, receipt: number): PostbackReceived {
  const at = (minutes: number) => new Date(Date.UTC(2026, 0, 10, 13, minutes)).toISOString();
  const base = {
    receipt_id: String(p.receiptBase + receipt),
    advertiser_id: p.advertiser,
    brand_id: p.brand,
    click_id: p.clicks[m.click] as string,
    currency: null,
    received_at: at(59),
  };
  if (m.kind === "reversal") {
    return {
      ...base,
      source: "s2s",
      txid: `R${receipt}`,
      ref_txid: m.ref,
      event: m.event,
      status: null,
      amount: null,
      payout: null,
      occurred_at: at(30),
    };
  }
  return {
    ...base,
    source: m.kind,
    txid: m.txid,
    ref_txid: null,
    event: m.event,
    status: m.kind === "s2s" ? m.status : null,
    amount: m.amount,
    payout: m.kind === "s2s" ? m.payout : null,
    occurred_at: at(m.event === "ftd" ? 1 : 2),
  };
}

// ------------------------------------------------------------------ the handlers, as consumers run them

/** Like the consume loop: a handler that fails (a deadlock victim, say) is redelivered. */
async function redelivered<T>(handle: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await handle();
    } catch (err) {
      if (attempt >= 5) throw err;
      await Bun.sleep(attempt * 5);
    }
  }
}

const attributeOnce = (p: Program, d: { msg: number; receipt: number }, m: Msg) =>
  redelivered(() =>
    handleOnce(
      sql,
      { consumer: "attribution-postbacks", messageId: `pb:${p.advertiser}:${d.receipt}` },
      (tx) => attribute(tx, codec, postback(p, m, d.receipt)),
    ),
  );

type Delivery = { msg: number; receipt: number };

/**
 * Like the batch consume loop: the postbacks in one transaction under one batch inbox row; a
 * batch that fails (a deadlock victim, say) is handled again message by message.
 */
const attributeBatchOnce = (p: Program, s: Scenario, ds: Delivery[]) => {
  const run = (batch: Delivery[]) =>
    handleBatchOnce(
      sql,
      "attribution-postbacks",
      batch,
      (d) => `pb:${p.advertiser}:${d.receipt}`,
      (tx, fresh) =>
        attributeBatch(
          tx,
          codec,
          fresh.map((d) => postback(p, s.messages[d.msg] as Msg, d.receipt)),
        ),
    );
  return run(ds).catch(async () => {
    for (const d of ds) await redelivered(() => run([d]));
  });
};

const settleOnce = (change: { msg_id: string; payload: ConversionChanged }) =>
  redelivered(() =>
    handleOnce(sql, { consumer: "commission-conversions", messageId: change.msg_id }, (tx) =>
      settle(tx, change.payload),
    ),
  );

type Change = { msg_id: string; payload: ConversionChanged };

/** `settleOnce` for a batch of changes, as the batch consume loop runs them. */
const settleBatchOnce = (cs: Change[]) => {
  const run = (batch: Change[]) =>
    handleBatchOnce(
      sql,
      "commission-conversions",
      batch,
      (c) => c.msg_id,
      (tx, fresh) =>
        settleBatch(
          tx,
          fresh.map((c) => c.payload),
        ),
    );
  return run(cs).catch(async () => {
    for (const c of cs) await redelivered(() => run([c]));
  });
};

/** The CONVERSIONS events attribution has written for this advertiser so far (its outbox). */
async function changesOf(p: Program): Promise<{ id: string; msg_id: string; payload: ConversionChanged }[]> {
  return [
    ...(await sql<{ id: string; msg_id: string; payload: ConversionChanged }[]>`
      select id, msg_id, payload from bus_outbox
      where id > ${p.outboxFrom} and subject like 'conversions.%' and payload->>'advertiser_id' = ${p.advertiser}
      order by id`),
  ];
}

/** Commission's side: settle every change not settled yet, in the order `order` gives. */
async function drain(p: Program, settled: Set<string>, order: (ids: string[]) => string[]) {
  const pending = (await changesOf(p)).filter((c) => !settled.has(c.msg_id));
  const byId = new Map(pending.map((c) => [c.msg_id, c]));
  for (const id of order(pending.map((c) => c.msg_id))) {
    await settleOnce(byId.get(id) as { msg_id: string; payload: ConversionChanged });
    settled.add(id);
  }
}

// ------------------------------------------------------------------ what must be the same

/** Conversions and ledger, named by what the advertiser sent (click, event, txid), not by ids. */
async function finalState(p: Program) {
  const rows = await sql`
    select c.click_id, c.event, c.txid, c.status, c.source, c.amount::text, c.currency, c.payout_override::text,
           coalesce(sum(e.payout), 0)::numeric(20, 6)::text as payout,
           coalesce(sum(e.revenue), 0)::numeric(20, 6)::text as revenue,
           coalesce(sum(e.affiliate_payout), 0)::numeric(20, 6)::text as affiliate_payout
    from conversions c left join ledger_entries e on e.conversion_id = c.id
    where c.advertiser_id = ${p.advertiser}
    group by c.id
    order by c.id`;
  const conversions = rows
    .map((r) => ({ ...r, click_id: `click${p.clicks.indexOf(r.click_id as string)}` }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  const [balance] = await sql`
    select coalesce(sum(e.affiliate_payout), 0)::numeric(20, 6)::text as total from ledger_entries e
    join conversions c on c.id = e.conversion_id where c.advertiser_id = ${p.advertiser}`;
  return { conversions, balance: balance?.total };
}

// ------------------------------------------------------------------ the runs

/** The generated order; commission then settles every change in the order it was written. */
async function canonical(s: Scenario) {
  const p = await program(s.pixelSetsMoney);
  for (const d of s.deliveries) await attributeOnce(p, d, s.messages[d.msg] as Msg);
  await drain(p, new Set(), (ids) => ids);
  return finalState(p);
}

const byKeys = <T>(items: T[], keys: number[]) =>
  items
    .map((item, i) => ({ item, key: keys[i % keys.length] ?? 0, i }))
    .sort((a, b) => a.key - b.key || a.i - b.i)
    .map((x) => x.item);

/** A generated permutation; commission in an order of its own, at generated points, with redeliveries. */
async function permuted(s: Scenario) {
  const p = await program(s.pixelSetsMoney);
  const settled = new Set<string>();
  let round = 0;
  const commissionOrder = (ids: string[]) => {
    round++;
    const order = byKeys(ids, s.commissionKeys.slice(round % 8));
    // Redeliver the first change of this round: the inbox makes it a no-op.
    return order.length ? [...order, order[0] as string] : order;
  };
  for (const [i, d] of byKeys(s.deliveries, s.keys).entries()) {
    await attributeOnce(p, d, s.messages[d.msg] as Msg);
    if (s.drains[i]) await drain(p, settled, commissionOrder);
  }
  await drain(p, settled, commissionOrder);
  return finalState(p);
}

/** Two attribution workers and two commission workers at once, each on its own connection. */
async function concurrent(s: Scenario) {
  const p = await program(s.pixelSetsMoney);
  const queue = byKeys(s.deliveries, s.keys);
  let attributing = 2;
  let batches = 0;
  const attributionWorker = async () => {
    for (;;) {
      const batch = queue.splice(0, s.batches[batches++ % s.batches.length] ?? 1);
      if (batch.length === 0) break;
      await attributeBatchOnce(p, s, batch);
    }
    attributing--;
  };
  // Both commission workers take the changes not settled yet as they appear, each in its own
  // order; both may take the same one (a redelivery to two replicas): the inbox lets one through.
  const settled = new Set<string>();
  const commissionWorker = async (w: number) => {
    for (;;) {
      const done = attributing === 0;
      const todo = byKeys(
        (await changesOf(p)).filter((c) => !settled.has(c.msg_id)),
        s.commissionKeys.slice(w * 8),
      );
      for (let i = 0, b = w; i < todo.length; b++) {
        const batch = todo.slice(i, i + (s.batches[b % s.batches.length] ?? 1));
        i += batch.length;
        await settleBatchOnce(batch);
        for (const c of batch) settled.add(c.msg_id);
      }
      if (done && todo.length === 0) return;
      if (todo.length === 0) await Bun.sleep(5);
    }
  };
  await Promise.all([attributionWorker(), attributionWorker(), commissionWorker(0), commissionWorker(1)]);
  return finalState(p);
}

// A few hundred generated cases in all (each run in two orders); ORDER_RUNS=n to run more locally.
const RUNS = Number(process.env.ORDER_RUNS ?? 100);

describe("order independence: every order of the same reports ends in the same conversions and ledger", () => {
  test("one worker each, any permutation of postbacks and of commission's changes", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        expect(await permuted(s)).toEqual(await canonical(s));
      }),
      { numRuns: RUNS },
    );
  }, 240_000);

  test("two attribution and two commission workers at once", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        expect(await concurrent(s)).toEqual(await canonical(s));
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  }, 240_000);
});
