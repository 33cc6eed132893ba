import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ClickIdCodec } from "@roundtrip/clickid";
import type { ConversionChanged, PostbackReceived } from "@roundtrip/contracts";
import { createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import { capBlockedCount, releaseCapBlocked } from "./cap-blocks.ts";
import { attribute, type Outcome } from "./conversions.ts";
import { enrichConversions } from "./enrich.ts";
import { move } from "./lifecycle.ts";

const codec = ClickIdCodec.fromSpec(`t1:${"k".repeat(40)}`);
let db: TestDatabase;
let sql: Sql;
let ids: {
  brand: string;
  brand2: string;
  adv: string;
  offer: string;
  pausedOffer: string;
  cappedOffer: string;
  link: number;
  pausedLink: number;
  cappedLink: number;
  link2: number;
  adv2: string;
};
let receipt = 1000;

beforeAll(async () => {
  db = await createTestDatabase("attribution");
  sql = db.sql;
  const [b] =
    await sql`insert into brands (slug, name, currency, timezone) values ('casino', 'Casino', 'EUR', 'Europe/Malta') returning id`;
  const [b2] =
    await sql`insert into brands (slug, name, currency) values ('sports', 'Sports', 'USD') returning id`;
  const [a] =
    await sql`insert into advertisers (brand_id, name, dedup_window_hours) values (${b?.id}, 'Adv', 24) returning id`;
  const [a2] = await sql`insert into advertisers (brand_id, name) values (${b2?.id}, 'Adv2') returning id`;
  const offer = async (brand: string, adv: string, status = "active") => {
    const [o] =
      await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency, status)
      values (${brand}, ${adv}, 'O', 'https://x.example/?c={click_id}', 'EUR', ${status}) returning id`;
    await sql`insert into offer_events ${sql([
      { offer_id: o?.id, code: "registration", window_days: 30, default_status: "approved" },
      { offer_id: o?.id, code: "ftd", window_days: 7, default_status: "pending" },
      { offer_id: o?.id, code: "deposit", window_days: 365, default_status: "approved" },
    ])}`;
    return o?.id as string;
  };
  const [af] = await sql`insert into affiliates (name) values ('Aff') returning id`;
  const linkFor = async (o: string) => {
    const [l] =
      await sql`insert into links (code, offer_id, affiliate_id) values (${crypto.randomUUID().slice(0, 8)}, ${o}, ${af?.id}) returning id`;
    return Number(l?.id);
  };
  const o1 = await offer(b?.id, a?.id);
  const paused = await offer(b?.id, a?.id, "paused");
  const capped = await offer(b?.id, a?.id);
  await sql`update offer_events set cap_daily = 3 where offer_id = ${capped} and code = 'registration'`;
  const o2 = await offer(b2?.id, a2?.id);
  ids = {
    brand: b?.id,
    brand2: b2?.id,
    adv: a?.id,
    adv2: a2?.id,
    offer: o1,
    pausedOffer: paused,
    cappedOffer: capped,
    link: await linkFor(o1),
    pausedLink: await linkFor(paused),
    cappedLink: await linkFor(capped),
    link2: await linkFor(o2),
  };
});

afterAll(async () => {
  await db?.drop();
});

function payload(over: Partial<PostbackReceived> & { click_id: string }): PostbackReceived {
  receipt += 1;
  return {
    receipt_id: String(receipt),
    advertiser_id: ids.adv,
    brand_id: ids.brand,
    source: "s2s",
    txid: null,
    ref_txid: null,
    event: "registration",
    status: null,
    amount: null,
    payout: null,
    currency: null,
    occurred_at: null,
    received_at: new Date().toISOString(),
    ...over,
  };
}

/** A postback credited before its click row was stored (the postback overtook the click). */
const credit = (over: Partial<PostbackReceived> & { click_id: string }): Promise<Outcome> =>
  sql.begin((tx) => attribute(tx, codec, payload(over))) as Promise<Outcome>;

/** The click row of a minted click ID, as attribution-clicks stores it (nothing if it is there). */
async function storeClickOf(clickId: string): Promise<void> {
  const claims = codec.verify(clickId);
  if (!claims.ok) return;
  await sql`
    insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, subs)
    select ${clickId}, ${claims.claims.clickedAt}, l.id, l.offer_id, l.affiliate_id, o.brand_id, '{}'::jsonb
    from links l join offers o on o.id = l.offer_id
    where l.id = ${claims.claims.linkId}
      and not exists (select 1 from clicks where click_id = ${clickId})`;
}

/** A postback for a stored click: the usual order, announced at once. */
const run = async (over: Partial<PostbackReceived> & { click_id: string }): Promise<Outcome> => {
  await storeClickOf(over.click_id);
  return credit(over);
};

async function conversionsOf(clickId: string) {
  return [
    ...(await sql`select id, txid, event, status, source, amount::text, brand_id from conversions where click_id = ${clickId} order by id`),
  ];
}
async function historyOf(conversionId: string) {
  return (
    await sql`select status, reason from conversion_history where conversion_id = ${conversionId} order by seq`
  ).map((r) => [r.status, r.reason]);
}
/** What commission was told about a conversion, in order. */
async function announced(conversionId: string): Promise<ConversionChanged[]> {
  return (
    await sql`select payload from bus_outbox where subject like 'conversions.%' and payload->>'conversion_id' = ${conversionId} order by id`
  ).map((r) => r.payload as ConversionChanged);
}
async function reasonOf(o: Outcome) {
  return o.kind === "rejected" ? o.reason : o.kind;
}

describe("crediting", () => {
  test("a conversion is credited from the click ID alone, then enriched when the click row is stored", async () => {
    const clickedAt = new Date();
    const clickId = codec.mint(ids.link, clickedAt);
    const created = await credit({ click_id: clickId, txid: "E-1" });
    expect(created.kind).toBe("created");
    const [before] =
      await sql`select subs, enriched_at, affiliate_id, offer_id from conversions where click_id = ${clickId}`;
    expect(before).toMatchObject({ subs: null, enriched_at: null, offer_id: ids.offer });

    await sql`insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, ip, user_agent, subs)
              values (${clickId}, ${clickedAt}, ${ids.link}, ${ids.offer}, ${before?.affiliate_id}, ${ids.brand}, '203.0.113.0', 'UA', ${sql.json({ sub1: "news" })})`;
    const n = await sql.begin((tx) =>
      enrichConversions(tx, {
        clicks: [
          {
            click_id: clickId,
            clicked_at: clickedAt.toISOString(),
            link_id: String(ids.link),
            offer_id: ids.offer,
            affiliate_id: before?.affiliate_id,
            brand_id: ids.brand,
            is_unique: true,
          },
        ],
      }),
    );
    expect(n).toBe(1);
    const [after] = await sql`select subs, ip, user_agent from conversions where click_id = ${clickId}`;
    expect(after).toEqual({ subs: { sub1: "news" }, ip: "203.0.113.0", user_agent: "UA" });

    // When the click row is already there, the conversion is enriched at once.
    const second = await run({ click_id: clickId, event: "deposit", txid: "E-2" });
    expect(second.kind).toBe("created");
    const [enriched] =
      await sql`select subs from conversions where click_id = ${clickId} and event = 'deposit'`;
    expect(enriched?.subs).toEqual({ sub1: "news" });
  });

  test("outside the window, unknown event, paused offer, wrong advertiser or brand: refused with a reason code", async () => {
    const old = codec.mint(ids.link, new Date(Date.now() - 8 * 86_400_000));
    expect(await reasonOf(await run({ click_id: old, event: "ftd", txid: "W-1" }))).toBe("outside_window");
    // registration allows 30 days: the same click still converts.
    expect((await run({ click_id: old, event: "registration", txid: "W-2" })).kind).toBe("created");
    const clickId = codec.mint(ids.link);
    expect(await reasonOf(await run({ click_id: clickId, event: "sale", txid: "U-1" }))).toBe(
      "unknown_event",
    );
    expect(await reasonOf(await run({ click_id: codec.mint(ids.pausedLink), txid: "P-1" }))).toBe(
      "offer_paused",
    );
    expect(await reasonOf(await run({ click_id: clickId, advertiser_id: ids.adv2 }))).toBe(
      "advertiser_mismatch",
    );
    expect(await reasonOf(await run({ click_id: clickId, brand_id: ids.brand2 }))).toBe("brand_mismatch");
    expect(await reasonOf(await run({ click_id: "forged" }))).toBe("invalid_click_id");
    const reasons =
      await sql`select reason, count(*)::int as n from attribution_rejections group by reason order by reason`;
    expect(reasons.map((r) => r.reason)).toEqual(
      expect.arrayContaining([
        "outside_window",
        "unknown_event",
        "offer_paused",
        "advertiser_mismatch",
        "brand_mismatch",
        "invalid_click_id",
      ]),
    );
  });

  test("the event time decides the window, not the arrival time", async () => {
    const clickedAt = new Date(Date.now() - 10 * 86_400_000);
    const clickId = codec.mint(ids.link, clickedAt);
    const inTime = new Date(clickedAt.getTime() + 2 * 86_400_000).toISOString();
    expect((await run({ click_id: clickId, event: "ftd", txid: "T-late", occurred_at: inTime })).kind).toBe(
      "created",
    );
  });

  test("a cap per offer event: over it the conversion is held back (over_cap), even under concurrency", async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, (_, i) => run({ click_id: codec.mint(ids.cappedLink), txid: `CAP-${i}` })),
    );
    const created = outcomes.filter((o) => o.kind === "created");
    expect(created).toHaveLength(8);
    const blocked = created.filter((o) => o.blocked === "over_cap");
    expect(blocked).toHaveLength(5);
    // Held back: nothing announced to commission or delivery for the blocked ones, only for the 3.
    for (const o of created) expect(await announced(o.conversionId)).toHaveLength(o.blocked ? 0 : 1);
    // The cap is per event: deposits on the same offer are not capped.
    expect((await run({ click_id: codec.mint(ids.cappedLink), event: "deposit", txid: "CAP-D" })).kind).toBe(
      "created",
    );
    const [usage] =
      await sql`select used from offer_cap_usage where offer_id = ${ids.cappedOffer} and period = 'day'`;
    expect(usage?.used).toBe(3);
  });

  test("multi-brand: brand on every record", async () => {
    const clickId = codec.mint(ids.link2);
    await run({ click_id: clickId, advertiser_id: ids.adv2, brand_id: ids.brand2, txid: "MB-1" });
    expect((await conversionsOf(clickId))[0]?.brand_id).toBe(ids.brand2);
  });
});

describe("dedup", () => {
  test("(advertiser, txid, event) is unique with no time limit; a repeat is a duplicate, counted", async () => {
    const clickId = codec.mint(ids.link);
    await run({ click_id: clickId, txid: "D-1", event: "deposit", amount: "10" });
    const again = await run({ click_id: clickId, txid: "D-1", event: "deposit", amount: "10" });
    expect(again.kind).toBe("duplicate");
    await sql`update conversions set occurred_at = occurred_at - interval '300 days' where txid = 'D-1'`;
    expect((await run({ click_id: clickId, txid: "D-1", event: "deposit" })).kind).toBe("duplicate");
    // Another event with the same txid is another conversion.
    expect((await run({ click_id: clickId, txid: "D-1", event: "registration" })).kind).toBe("created");
    const [dups] =
      await sql`select count(*)::int as n from attribution_rejections where reason = 'duplicate' and advertiser_id = ${ids.adv}`;
    expect(dups?.n).toBeGreaterThanOrEqual(2);
  });

  test("without a txid, (click, event) within the window is one conversion; after it, another", async () => {
    const clickId = codec.mint(ids.link);
    const now = Date.now();
    const at = (h: number) => new Date(now + h * 3_600_000).toISOString();
    expect((await run({ click_id: clickId, event: "deposit", amount: "5", occurred_at: at(0) })).kind).toBe(
      "created",
    );
    expect((await run({ click_id: clickId, event: "deposit", amount: "5", occurred_at: at(3) })).kind).toBe(
      "duplicate",
    );
    expect((await run({ click_id: clickId, event: "deposit", amount: "5", occurred_at: at(30) })).kind).toBe(
      "created",
    );
    expect(await conversionsOf(clickId)).toHaveLength(2);
  });
});

describe("status lifecycle", () => {
  test("pending → approved → reversed, by later postbacks with the same txid; history kept", async () => {
    const clickId = codec.mint(ids.link);
    await run({ click_id: clickId, event: "ftd", txid: "L-1" });
    await run({ click_id: clickId, event: "ftd", txid: "L-1", status: "approved" });
    await run({ click_id: clickId, event: "ftd", txid: "L-1", status: "reversed" });
    const [c] = await conversionsOf(clickId);
    expect(c?.status).toBe("reversed");
    expect(await historyOf(c?.id)).toEqual([
      ["pending", null],
      ["approved", null],
      ["reversed", null],
    ]);
    const events =
      await sql`select payload->>'status' as status from bus_outbox where subject like 'conversions.%' and payload->>'conversion_id' = ${c?.id} order by id`;
    expect(events.map((e) => e.status)).toEqual(["pending", "approved", "reversed"]);
  });

  test("out of order: approved before pending ends approved; reversed before approved ends reversed", async () => {
    const a = codec.mint(ids.link);
    await run({ click_id: a, event: "ftd", txid: "O-1", status: "approved" });
    expect(await reasonOf(await run({ click_id: a, event: "ftd", txid: "O-1", status: "pending" }))).toBe(
      "stale_status",
    );
    expect((await conversionsOf(a))[0]?.status).toBe("approved");

    const b = codec.mint(ids.link);
    await run({ click_id: b, event: "ftd", txid: "O-2", status: "pending" });
    expect((await run({ click_id: b, event: "ftd", txid: "O-2", status: "reversed" })).kind).toBe("changed");
    expect(await reasonOf(await run({ click_id: b, event: "ftd", txid: "O-2", status: "approved" }))).toBe(
      "stale_status",
    );
    const [cb] = await conversionsOf(b);
    expect(cb?.status).toBe("reversed");
    expect(await historyOf(cb?.id)).toEqual([
      ["pending", null],
      ["approved", "implied_by_reversal"],
      ["reversed", null],
    ]);
  });

  test("contradicting reports: the one that pays less wins, in either order", async () => {
    for (const [i, order] of [
      ["approved", "rejected"],
      ["rejected", "approved"],
    ].entries()) {
      const clickId = codec.mint(ids.link);
      for (const status of order as ("approved" | "rejected")[])
        await run({ click_id: clickId, event: "ftd", txid: `I-${i}`, status });
      expect((await conversionsOf(clickId))[0]?.status).toBe("rejected");
    }
    expect(move("approved", "rejected")).toEqual({
      kind: "apply",
      steps: [{ status: "rejected", reason: null }],
    });
    expect(move("rejected", "approved")).toEqual({ kind: "stale" });
    expect(move("rejected", "reversed")).toEqual({
      kind: "apply",
      steps: [{ status: "reversed", reason: null }],
    });
    expect(move("reversed", "rejected")).toEqual({ kind: "stale" });
  });

  test("the same updates in every arrival order end in the same state", async () => {
    const orders = [
      ["pending", "approved", "reversed"],
      ["approved", "pending", "reversed"],
      ["reversed", "approved", "pending"],
      ["approved", "reversed", "pending"],
      ["pending", "reversed", "approved"],
    ] as const;
    for (const [i, order] of orders.entries()) {
      const clickId = codec.mint(ids.link);
      for (const status of order) await run({ click_id: clickId, event: "ftd", txid: `ORD-${i}`, status });
      expect((await conversionsOf(clickId))[0]?.status).toBe("reversed");
    }
  });

  test("a refund or chargeback referencing the txid reverses it; one arriving first is applied when the deposit lands", async () => {
    const clickId = codec.mint(ids.link);
    await run({ click_id: clickId, event: "deposit", txid: "DEP-1", amount: "100" });
    const refund = await run({ click_id: clickId, event: "refund", txid: "DEP-1" });
    expect(refund.kind).toBe("changed");
    expect((await run({ click_id: clickId, event: "refund", txid: "DEP-1" })).kind).toBe("duplicate");

    await run({ click_id: clickId, event: "deposit", txid: "DEP-2", amount: "50" });
    await run({ click_id: clickId, event: "chargeback", txid: "CB-9", ref_txid: "DEP-2" });

    // The chargeback overtakes the deposit it reverses.
    expect(
      (await run({ click_id: clickId, event: "chargeback", txid: "CB-10", ref_txid: "DEP-3" })).kind,
    ).toBe("deferred");
    const late = await run({ click_id: clickId, event: "deposit", txid: "DEP-3", amount: "70" });
    expect(late.kind).toBe("created");

    const rows = await conversionsOf(clickId);
    expect(rows.map((r) => [r.txid, r.status])).toEqual([
      ["DEP-1", "reversed"],
      ["DEP-2", "reversed"],
      ["DEP-3", "reversed"],
    ]);
    expect(await historyOf(rows[2]?.id)).toEqual([
      ["approved", null],
      ["reversed", "chargeback"],
    ]);
    expect(await reasonOf(await run({ click_id: clickId, event: "refund" }))).toBe("missing_reference");
  });
});

describe("pixel and S2S for the same conversion (S2S wins)", () => {
  test("pixel first, then S2S with the txid: one conversion, taken over by the S2S report", async () => {
    const clickId = codec.mint(ids.link);
    expect((await run({ click_id: clickId, source: "pixel", event: "deposit", amount: "99" })).kind).toBe(
      "created",
    );
    // A pixel is a claim: pending, and its amount sets no money.
    expect(await conversionsOf(clickId)).toEqual([
      expect.objectContaining({ source: "pixel", status: "pending", amount: null }),
    ]);
    const s2s = await run({
      click_id: clickId,
      event: "deposit",
      txid: "HY-1",
      amount: "100",
      status: "approved",
    });
    expect(s2s.kind).toBe("confirmed");
    const rows = await conversionsOf(clickId);
    expect(rows).toEqual([
      expect.objectContaining({ txid: "HY-1", source: "s2s", amount: "100.000000", status: "approved" }),
    ]);
    expect(await historyOf(rows[0]?.id)).toEqual([
      ["pending", null],
      ["pending", "confirmed_by_s2s"],
      ["approved", null],
    ]);
    // Commission hears the S2S amount with the approval.
    expect((await announced(rows[0]?.id)).map((e) => [e.seq, e.status, e.amount])).toEqual([
      [1, "pending", null],
      [3, "approved", "100.000000"],
    ]);
    // A second S2S with the same txid is an ordinary duplicate.
    expect((await run({ click_id: clickId, event: "deposit", txid: "HY-1", status: "approved" })).kind).toBe(
      "duplicate",
    );
  });

  test("S2S first, then the pixel (with or without txid): the pixel is a duplicate", async () => {
    const clickId = codec.mint(ids.link);
    await run({ click_id: clickId, event: "deposit", txid: "HY-2", amount: "40" });
    expect(
      (await run({ click_id: clickId, source: "pixel", event: "deposit", txid: "HY-2", amount: "4000" }))
        .kind,
    ).toBe("duplicate");
    expect((await run({ click_id: clickId, source: "pixel", event: "deposit" })).kind).toBe("duplicate");
    expect(await conversionsOf(clickId)).toEqual([expect.objectContaining({ amount: "40.000000" })]);
  });

  test("a pixel cannot refund: refused as untrusted_pixel unless the operator trusts the advertiser's pixels", async () => {
    const clickId = codec.mint(ids.link);
    await run({ click_id: clickId, event: "deposit", txid: "PXREF-1", amount: "50" });
    expect(
      await reasonOf(await run({ click_id: clickId, source: "pixel", event: "refund", txid: "PXREF-1" })),
    ).toBe("untrusted_pixel");
    expect((await conversionsOf(clickId))[0]?.status).toBe("approved");
    await sql`update advertisers set pixel_sets_money = true where id = ${ids.adv}`;
    try {
      await run({
        click_id: clickId,
        source: "pixel",
        event: "chargeback",
        txid: "PXREF-2",
        ref_txid: "PXREF-1",
      });
      expect((await conversionsOf(clickId))[0]?.status).toBe("reversed");
    } finally {
      await sql`update advertisers set pixel_sets_money = false where id = ${ids.adv}`;
    }
  });

  test("a pixel cannot set the status: pending whatever it says", async () => {
    const clickId = codec.mint(ids.link);
    await run({ click_id: clickId, source: "pixel", event: "ftd", status: "approved", txid: "HY-3" });
    expect((await conversionsOf(clickId))[0]?.status).toBe("pending");
    // The S2S report then moves it.
    expect((await run({ click_id: clickId, event: "ftd", txid: "HY-3", status: "approved" })).kind).toBe(
      "confirmed",
    );
    expect((await conversionsOf(clickId))[0]?.status).toBe("approved");
  });

  test("with pixel_sets_money on, a pixel's amount and default status count until the S2S report", async () => {
    await sql`update advertisers set pixel_sets_money = true where id = ${ids.adv}`;
    try {
      const clickId = codec.mint(ids.link);
      await run({ click_id: clickId, source: "pixel", event: "deposit", amount: "99" });
      expect(await conversionsOf(clickId)).toEqual([
        expect.objectContaining({ status: "approved", amount: "99.000000" }),
      ]);
      // The S2S amount replaces it (whatever the times), as a change of its own.
      const later = new Date(Date.now() - 60_000).toISOString();
      const s2s = await run({
        click_id: clickId,
        event: "deposit",
        txid: "HY-4",
        amount: "80",
        occurred_at: later,
      });
      expect(s2s.kind).toBe("confirmed");
      const [row] = await conversionsOf(clickId);
      expect(row).toMatchObject({ status: "approved", amount: "80.000000", source: "s2s" });
      expect((await announced(row?.id)).map((e) => [e.seq, e.status, e.amount])).toEqual([
        [1, "approved", "99.000000"],
        [2, "approved", "80.000000"],
      ]);
    } finally {
      await sql`update advertisers set pixel_sets_money = false where id = ${ids.adv}`;
    }
  });
});

describe("order independence (issue 10)", () => {
  test("an early refund reverses every conversion of its txid, including ones created after it", async () => {
    const orders = [
      ["refund", "ftd", "deposit"],
      ["ftd", "refund", "deposit"],
      ["ftd", "deposit", "refund"],
      ["deposit", "refund", "ftd"],
    ];
    for (const [i, order] of orders.entries()) {
      const clickId = codec.mint(ids.link);
      const txid = `MULTI-${i}`;
      for (const event of order as string[]) {
        await run({ click_id: clickId, event, txid, amount: event === "refund" ? null : "50" });
      }
      const rows = await conversionsOf(clickId);
      expect(rows.map((r) => `${r.event}:${r.status}`).sort()).toEqual(["deposit:reversed", "ftd:reversed"]);
    }
  });

  test("pixel, then a refund of the txid, then the S2S report giving the pixel's conversion that txid: reversed", async () => {
    const clickId = codec.mint(ids.link);
    await run({ click_id: clickId, source: "pixel", event: "deposit", amount: "99" });
    expect((await run({ click_id: clickId, event: "refund", txid: "PXR-1" })).kind).toBe("deferred");
    const s2s = await run({
      click_id: clickId,
      event: "deposit",
      txid: "PXR-1",
      amount: "100",
      status: "approved",
    });
    expect(s2s.kind).toBe("confirmed");
    const [row] = await conversionsOf(clickId);
    expect(row).toMatchObject({ txid: "PXR-1", status: "reversed" });
  });

  test("amounts: the S2S report with the latest event time wins, in either order, and a change is announced", async () => {
    const at = (m: number) => new Date(Date.now() - 3_600_000 + m * 60_000).toISOString();
    const reports = [
      { amount: "10", occurred_at: at(0) },
      { amount: "30", occurred_at: at(2) },
      { amount: "20", occurred_at: at(1) },
    ];
    for (const [i, order] of [
      [0, 1, 2],
      [1, 2, 0],
      [2, 0, 1],
    ].entries()) {
      const clickId = codec.mint(ids.link);
      const outcomes: string[] = [];
      for (const n of order) {
        const r = reports[n] as { amount: string; occurred_at: string };
        outcomes.push((await run({ click_id: clickId, event: "deposit", txid: `AMT-${i}`, ...r })).kind);
      }
      const [row] = await conversionsOf(clickId);
      expect(row?.amount).toBe("30.000000");
      const events = await announced(row?.id);
      expect(events.at(-1)?.amount).toBe("30.000000");
      // Every report that moved the amount produced a change for commission; the others were duplicates.
      expect(events).toHaveLength(outcomes.filter((o) => o !== "duplicate").length);
    }
  });

  test("caps are given back when a conversion is rejected or reversed", async () => {
    const [o] = await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency)
      values (${ids.brand}, ${ids.adv}, 'Cap1', 'https://x.example/?c={click_id}', 'EUR') returning id`;
    await sql`insert into offer_events (offer_id, code, window_days, default_status, cap_daily)
              values (${o?.id}, 'registration', 30, 'approved', 1), (${o?.id}, 'deposit', 30, 'approved', 1)`;
    const [af] = await sql`select affiliate_id from links where id = ${ids.link}`;
    const [l] = await sql`insert into links (code, offer_id, affiliate_id)
      values (${crypto.randomUUID().slice(0, 8)}, ${o?.id}, ${af?.affiliate_id}) returning id`;
    const mint = () => codec.mint(Number(l?.id));
    const used = async (event: string) =>
      (await sql`select used from offer_cap_usage where offer_id = ${o?.id} and event = ${event}`)[0]?.used;

    const a = mint();
    expect((await run({ click_id: a, txid: "CG-1" })).kind).toBe("created");
    const over = await run({ click_id: mint(), txid: "CG-2" });
    expect(over.kind === "created" && over.blocked).toBe("over_cap");
    await run({ click_id: a, txid: "CG-1", status: "rejected" });
    expect(await used("registration")).toBe(0);
    // The place given back goes to the conversion waiting for it (released by attribution's pass)…
    expect(await releaseCapBlocked(sql)).toEqual({ released: 1 });
    expect(await used("registration")).toBe(1);
    // …so a new one is over the cap now, and waits in turn.
    const next = await run({ click_id: mint(), txid: "CG-3" });
    expect(next.kind === "created" && next.blocked).toBe("over_cap");
    await run({ click_id: mint(), txid: "CG-3", status: "rejected" });
    // Rejected then reversed gives back once.
    await run({ click_id: a, txid: "CG-1", status: "reversed" });
    expect(await used("registration")).toBe(1);

    const d = mint();
    expect((await run({ click_id: d, event: "deposit", txid: "CG-4" })).kind).toBe("created");
    await run({ click_id: d, event: "refund", txid: "CG-4" });
    expect(await used("deposit")).toBe(0);
    expect((await run({ click_id: mint(), event: "deposit", txid: "CG-5" })).kind).toBe("created");
  });
});

describe("over a cap: blocked, and booked once the cap has room (issue 10)", () => {
  /** An offer of its own with a daily cap on registrations, and a minter for clicks on it. */
  async function cappedOffer(capDaily: number) {
    const [o] = await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency)
      values (${ids.brand}, ${ids.adv}, 'Capped', 'https://x.example/?c={click_id}', 'EUR') returning id`;
    await sql`insert into offer_events (offer_id, code, window_days, default_status, cap_daily)
              values (${o?.id}, 'registration', 30, 'approved', ${capDaily})`;
    const [af] = await sql`select affiliate_id from links where id = ${ids.link}`;
    const [l] = await sql`insert into links (code, offer_id, affiliate_id)
      values (${crypto.randomUUID().slice(0, 8)}, ${o?.id}, ${af?.affiliate_id}) returning id`;
    const setCap = (cap: number | null) =>
      sql`update offer_events set cap_daily = ${cap} where offer_id = ${o?.id} and code = 'registration'`;
    return { offerId: o?.id as string, mint: () => codec.mint(Number(l?.id)), setCap };
  }
  const blockedIds = async (offerId: string) =>
    (
      await sql`select id from conversions where offer_id = ${offerId} and cap_blocked_since is not null order by id`
    ).map((r) => r.id as string);

  test("raising the cap releases the waiting conversions oldest first; removing it releases the rest", async () => {
    const { offerId, mint, setCap } = await cappedOffer(1);
    const ids_: string[] = [];
    for (let i = 0; i < 5; i++) {
      const o = await run({ click_id: mint(), txid: `RAISE-${offerId}-${i}`, amount: "10", currency: "EUR" });
      if (o.kind !== "created") throw new Error(`expected created, got ${o.kind}`);
      ids_.push(o.conversionId);
    }
    expect(await blockedIds(offerId)).toEqual(ids_.slice(1));
    // Nothing has room yet: a pass releases nothing.
    expect((await releaseCapBlocked(sql)).released).toBe(0);

    await setCap(3);
    expect((await releaseCapBlocked(sql)).released).toBe(2);
    expect(await blockedIds(offerId)).toEqual(ids_.slice(3));
    // A released conversion is announced once, with its state now, and its history says why.
    const events = await announced(ids_[1] as string);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ status: "approved", previous_status: null, amount: "10.000000" });
    expect(await historyOf(ids_[1] as string)).toEqual([
      ["approved", "over_cap"],
      ["approved", "cap_room"],
    ]);

    await setCap(null);
    expect((await releaseCapBlocked(sql)).released).toBe(2);
    expect(await blockedIds(offerId)).toEqual([]);
    for (const id of ids_) expect(await announced(id)).toHaveLength(1);
  });

  test("while blocked, later reports change it without announcing; a refund releases it reversed", async () => {
    const { offerId, mint } = await cappedOffer(1);
    await run({ click_id: mint(), txid: `HELD-${offerId}-0` });
    const click = mint();
    const txid = `HELD-${offerId}-1`;
    const first = await run({ click_id: click, txid, event: "registration", status: "pending" });
    if (first.kind !== "created") throw new Error(first.kind);
    expect(first.blocked).toBe("over_cap");
    // A retry is a duplicate of the blocked conversion, not a second one.
    expect((await run({ click_id: click, txid, status: "pending" })).kind).toBe("duplicate");
    // Approval and a new amount are applied to it, but nothing is announced while it waits.
    expect(
      (await run({ click_id: click, txid, status: "approved", amount: "25", currency: "EUR" })).kind,
    ).toBe("changed");
    expect(await announced(first.conversionId)).toHaveLength(0);
    // A refund ends it: it needs no cap place, so it is released with that change.
    await run({ click_id: click, event: "refund", txid });
    expect(await blockedIds(offerId)).toEqual([]);
    const events = await announced(first.conversionId);
    expect(events.map((e) => e.status)).toEqual(["reversed"]);
    const [usage] = await sql`select used from offer_cap_usage where offer_id = ${offerId}`;
    expect(usage?.used).toBe(1);
  });

  test("two release passes at once hand one place to one conversion", async () => {
    const { offerId, mint, setCap } = await cappedOffer(1);
    for (let i = 0; i < 4; i++) await run({ click_id: mint(), txid: `RACE-${offerId}-${i}` });
    expect(await blockedIds(offerId)).toHaveLength(3);
    await setCap(2);
    const passes = await Promise.all([
      releaseCapBlocked(sql),
      releaseCapBlocked(sql),
      releaseCapBlocked(sql),
    ]);
    expect(passes.reduce((n, p) => n + p.released, 0)).toBe(1);
    expect(await blockedIds(offerId)).toHaveLength(2);
    const [usage] = await sql`select used from offer_cap_usage where offer_id = ${offerId}`;
    expect(usage?.used).toBe(2);
    expect(await capBlockedCount(sql)).toBeGreaterThanOrEqual(2);
  });
});
