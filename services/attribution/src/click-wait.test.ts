import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Bus, connectBus, provision, publish, subjects } from "@roundtrip/bus";
import { ClickIdCodec } from "@roundtrip/clickid";
import type { ClicksRecorded, ConversionChanged, PostbackReceived } from "@roundtrip/contracts";
import { createTestDatabase, type Sql, type TestDatabase, type Tx } from "@roundtrip/db";
import fc from "fast-check";
import { storeClicks } from "./click-store.ts";
import { awaitingClickCount, releaseStoredClicks, releaseUnmatched } from "./click-wait.ts";
import { attribute } from "./conversions.ts";
import { enrichConversions } from "./enrich.ts";

/**
 * A conversion created before its click row waits for it (click-wait.ts): the click's batch
 * announces it with its sub IDs; a click that can no longer come (attribution-clicks has
 * acknowledged everything published before the conversion) or a wait past the limit announces it
 * without them. Whatever the order, the conversion is announced exactly once.
 */

const codec = ClickIdCodec.fromSpec(`t1:${"w".repeat(40)}`);
const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
let db: TestDatabase;
let sql: Sql;
let bus: Bus;
let link: { id: number; offer_id: string; affiliate_id: string; brand_id: string; advertiser_id: string };
let receipt = 5000;

beforeAll(async () => {
  db = await createTestDatabase("click-wait");
  sql = db.sql;
  const [b] = await sql`insert into brands (slug, name, currency) values ('cw', 'CW', 'EUR') returning id`;
  const [a] = await sql`insert into advertisers (brand_id, name) values (${b?.id}, 'Adv') returning id`;
  const [o] = await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency)
    values (${b?.id}, ${a?.id}, 'O', 'https://x.example/?c={click_id}', 'EUR') returning id`;
  await sql`insert into offer_events (offer_id, code, window_days, default_status) values (${o?.id}, 'ftd', 30, 'approved')`;
  const [af] = await sql`insert into affiliates (name) values ('Aff') returning id`;
  const [l] =
    await sql`insert into links (code, offer_id, affiliate_id) values ('cw1', ${o?.id}, ${af?.id}) returning id`;
  link = {
    id: Number(l?.id),
    offer_id: o?.id,
    affiliate_id: af?.id,
    brand_id: b?.id,
    advertiser_id: a?.id,
  };
  const prefix = `cw${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
  bus = await connectBus({ url: NATS_URL, prefix, name: "click-wait-test" });
  await provision(bus);
}, 30_000);

afterAll(async () => {
  if (bus) {
    for await (const name of bus.jsm.streams.names())
      if (name.startsWith(`${bus.names.stream("CLICKS").split("_")[0]}_`))
        await bus.jsm.streams.delete(name).catch(() => {});
    await bus.close();
  }
  await db?.drop();
});

const postback = (clickId: string): PostbackReceived => {
  receipt += 1;
  return {
    receipt_id: String(receipt),
    advertiser_id: link.advertiser_id,
    brand_id: link.brand_id,
    source: "s2s",
    click_id: clickId,
    txid: `T-${receipt}`,
    ref_txid: null,
    event: "ftd",
    status: null,
    amount: "10.00",
    payout: null,
    currency: "EUR",
    occurred_at: null,
    received_at: new Date().toISOString(),
  };
};

const batchOf = (clickId: string, clickedAt: Date, sub1: string): ClicksRecorded => ({
  clicks: [
    {
      click_id: clickId,
      clicked_at: clickedAt.toISOString(),
      link_id: String(link.id),
      offer_id: link.offer_id,
      affiliate_id: link.affiliate_id,
      brand_id: link.brand_id,
      ip: "198.51.100.9",
      user_agent: "Wait/1",
      subs: { sub1 },
      is_unique: true,
    },
  ],
});

/** As attribution-clicks stores a batch: rows, enrichment, and the waiting conversions announced. */
const storeBatch = (batch: ClicksRecorded) =>
  sql.begin(async (tx) => {
    await storeClicks(tx, batch);
    await enrichConversions(tx, batch);
    await releaseStoredClicks(
      tx,
      batch.clicks.map((c) => c.click_id),
    );
  });

const credit = (clickId: string) => sql.begin((tx) => attribute(tx, codec, postback(clickId)));

async function conversionOf(clickId: string) {
  const [c] = await sql<{ id: string; subs: Record<string, string> | null; awaiting: boolean }[]>`
    select id, subs, awaiting_click_since is not null as awaiting from conversions where click_id = ${clickId}`;
  return c;
}
async function announced(conversionId: string): Promise<ConversionChanged[]> {
  return (
    await sql`select payload from bus_outbox where subject like 'conversions.%' and payload->>'conversion_id' = ${conversionId} order by id`
  ).map((r) => r.payload as ConversionChanged);
}
async function reasons(conversionId: string): Promise<(string | null)[]> {
  return (
    await sql`select reason from conversion_history where conversion_id = ${conversionId} order by seq`
  ).map((r) => r.reason);
}

describe("a conversion waits for its click row", () => {
  test("created before its click: nothing announced until the click's batch, which announces it once with its sub IDs", async () => {
    const clickedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
    const clickId = codec.mint(link.id, clickedAt);
    expect((await credit(clickId)).kind).toBe("created");
    const waiting = await conversionOf(clickId);
    expect(waiting).toMatchObject({ subs: null, awaiting: true });
    expect(await announced(waiting?.id as string)).toEqual([]);
    expect(await awaitingClickCount(sql)).toBeGreaterThan(0);

    await storeBatch(batchOf(clickId, clickedAt, "aff-own-id"));
    expect(await conversionOf(clickId)).toMatchObject({ subs: { sub1: "aff-own-id" }, awaiting: false });
    const events = await announced(waiting?.id as string);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ previous_status: null, status: "approved", click_id: clickId });
  });

  test("any order of postback, click batch and release pass: announced exactly once, with the sub IDs unless released first", async () => {
    type Step = "postback" | "click" | "release";
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Step[]>(
          ["postback", "click", "release"],
          ["postback", "release", "click"],
          ["click", "postback", "release"],
          ["click", "release", "postback"],
          ["release", "postback", "click"],
          ["release", "click", "postback"],
        ),
        fc.boolean(),
        async (order, concurrently) => {
          const clickedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
          const clickId = codec.mint(link.id, clickedAt);
          // Nothing is pending on attribution-clicks here: every click that was published is
          // handled, so the pass may release whatever waits (the caught-up case).
          const run: Record<Step, () => Promise<unknown>> = {
            postback: () => credit(clickId),
            click: () => storeBatch(batchOf(clickId, clickedAt, "s1")),
            release: () => releaseUnmatched(sql, bus, { maxWaitMs: 3_600_000 }),
          };
          if (concurrently) await Promise.all(order.map((s) => run[s]()));
          else for (const s of order) await run[s]();
          // A pass after everything: whatever still waits (the click never came) goes out.
          await releaseUnmatched(sql, bus, { maxWaitMs: 3_600_000 });
          const c = await conversionOf(clickId);
          expect(c?.awaiting).toBe(false);
          const events = await announced(c?.id as string);
          expect(events).toHaveLength(1);
          expect(events[0]?.previous_status).toBeNull();
          const releasedWithout = (await reasons(c?.id as string)).includes("click_not_stored");
          if (!concurrently) {
            // Released without its click only when the pass ran between the postback and the click.
            const p = order.indexOf("postback");
            const r = order.indexOf("release");
            const k = order.indexOf("click");
            expect(releasedWithout).toBe(p < r && r < k);
          }
          // The conversion carries the click's sub IDs in the end either way (enriched later).
          expect(c?.subs).toEqual({ sub1: "s1" });
        },
      ),
      { numRuns: 24 },
    );
  });
});

describe("a postback and its click's batch handled at once", () => {
  /** Runs `first` in a transaction held open until `second` has committed, then commits it. */
  async function inFlightTogether(first: (tx: Tx) => Promise<unknown>, second: () => Promise<unknown>) {
    let reached!: () => void;
    const started = new Promise<void>((r) => {
      reached = r;
    });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const one = sql.begin(async (tx) => {
      await first(tx);
      reached();
      await gate;
    });
    await started;
    await second(); // nothing makes it wait for the first: they share no lock
    release();
    await one;
  }
  const storeIn = async (tx: Tx, batch: ClicksRecorded) => {
    await storeClicks(tx, batch);
    await enrichConversions(tx, batch);
    await releaseStoredClicks(
      tx,
      batch.clicks.map((c) => c.click_id),
    );
  };

  for (const first of ["click batch", "postback"] as const)
    test(`the ${first}'s transaction open while the other commits: they miss each other, and the release pass sends the conversion with its click`, async () => {
      const clickedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
      const clickId = codec.mint(link.id, clickedAt);
      const batch = batchOf(clickId, clickedAt, "both-in-flight");
      if (first === "click batch")
        await inFlightTogether(
          (tx) => storeIn(tx, batch),
          () => credit(clickId),
        );
      else
        await inFlightTogether(
          (tx) => attribute(tx, codec, postback(clickId)),
          () => storeBatch(batch),
        );
      const missed = await conversionOf(clickId);
      expect(missed).toMatchObject({ subs: null, awaiting: true });
      expect(await announced(missed?.id as string)).toEqual([]);

      // attribution-clicks is caught up here: the pass finds the click row stored.
      expect((await releaseUnmatched(sql, bus, { maxWaitMs: 3_600_000 })).released).toBe(1);
      const [row] = await sql`select subs, ip, user_agent from conversions where click_id = ${clickId}`;
      expect(row).toMatchObject({
        subs: { sub1: "both-in-flight" },
        ip: "198.51.100.9",
        user_agent: "Wait/1",
      });
      expect(await announced(missed?.id as string)).toHaveLength(1);
      expect(await reasons(missed?.id as string)).not.toContain("click_not_stored");
    });
});

describe("a click that can no longer come", () => {
  test("released once attribution-clicks has acknowledged the clicks published after the conversion, not before", async () => {
    const stream = bus.names.stream("CLICKS");
    const consumer = await bus.jsm.jetstream().consumers.get(stream, "attribution-clicks");
    const message = async (n: number) => {
      const clickId = codec.mint(link.id);
      await publish(bus, subjects.clickRecorded(), batchOf(clickId, new Date(), `m${n}`), {
        msgId: `clicks:${clickId}`,
      });
    };
    const ackNext = async () => {
      const m = await consumer.next({ expires: 5_000 });
      expect(m).not.toBeNull();
      m?.ack();
      await m?.ackAck?.().catch(() => {});
    };
    await message(1);
    // Refused by PostgreSQL, say: its click never becomes a row.
    const lost = codec.mint(link.id);
    await credit(lost);
    await Bun.sleep(1_200); // past the margin between the stream's clock and the database's
    await message(2);
    const later = codec.mint(link.id);
    await credit(later);
    await message(3);

    // Nothing acknowledged yet: the pass cannot say the click is not coming.
    expect((await releaseUnmatched(sql, bus, { maxWaitMs: 3_600_000 })).released).toBe(0);
    await ackNext(); // message 1: published before the conversion, proves nothing
    await ackNext(); // message 2: published after it
    const pass = await releaseUnmatched(sql, bus, { maxWaitMs: 3_600_000 });
    expect(pass.released).toBe(1);
    expect(await conversionOf(lost)).toMatchObject({ awaiting: false, subs: null });
    expect(await reasons((await conversionOf(lost))?.id as string)).toContain("click_not_stored");
    expect(await announced((await conversionOf(lost))?.id as string)).toHaveLength(1);
    // Created after message 2: its click may still be in message 3, unacknowledged.
    expect(await conversionOf(later)).toMatchObject({ awaiting: true });

    // A wait past the limit releases it anyway.
    expect((await releaseUnmatched(sql, bus, { maxWaitMs: 0 })).released).toBe(1);
    expect(await conversionOf(later)).toMatchObject({ awaiting: false });
    expect(await announced((await conversionOf(later))?.id as string)).toHaveLength(1);
  }, 30_000);
});
