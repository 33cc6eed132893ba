import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ClickIdCodec } from "@roundtrip/clickid";
import type { ClickRecorded, PostbackReceived } from "@roundtrip/contracts";
import { createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import { judgeClicks } from "@roundtrip/traffic";
import { storeClicks } from "../click-store.ts";
import { attribute, type Outcome } from "../conversions.ts";
import { markStoredClicks } from "./click-flags.ts";

/**
 * Each traffic-quality rule fires at its threshold and not below, with its reason code, through
 * the real paths: clicks judged and stored as attribution's click consumer does, conversions
 * created by `attribute` in PostgreSQL.
 */
const codec = ClickIdCodec.fromSpec(`t1:${"r".repeat(40)}`);
let db: TestDatabase;
let sql: Sql;
let ids: {
  brand: string;
  adv: string;
  offer: string;
  aff: string;
  aff2: string;
  link: number;
  link2: number;
};
let receipt = 5000;
const UA =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

beforeAll(async () => {
  db = await createTestDatabase("rules");
  sql = db.sql;
  const [b] = await sql`insert into brands (slug, name, currency) values ('casino', 'C', 'EUR') returning id`;
  const [a] = await sql`insert into advertisers (brand_id, name) values (${b?.id}, 'Adv') returning id`;
  const [o] = await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency)
    values (${b?.id}, ${a?.id}, 'O', 'https://x.example/?c={click_id}', 'EUR') returning id`;
  await sql`insert into offer_events ${sql([
    { offer_id: o?.id, code: "registration", window_days: 30, default_status: "approved" },
    { offer_id: o?.id, code: "ftd", window_days: 30, default_status: "approved" },
  ])}`;
  const [f1] = await sql`insert into affiliates (name) values ('A1') returning id`;
  const [f2] = await sql`insert into affiliates (name) values ('A2') returning id`;
  const [l1] =
    await sql`insert into links (code, offer_id, affiliate_id) values ('r1', ${o?.id}, ${f1?.id}) returning id`;
  const [l2] =
    await sql`insert into links (code, offer_id, affiliate_id) values ('r2', ${o?.id}, ${f2?.id}) returning id`;
  ids = {
    brand: b?.id,
    adv: a?.id,
    offer: o?.id,
    aff: f1?.id,
    aff2: f2?.id,
    link: Number(l1?.id),
    link2: Number(l2?.id),
  };
  // Only what each test sets fires: the defaults that would fire on test traffic are turned off.
  for (const reason of ["ctit_too_fast", "click_flood_ip", "click_flood_sub", "same_device"])
    await rule({ reason, action: "flag", enabled: false });
});

afterAll(async () => {
  await db?.drop();
});

async function rule(r: {
  reason: string;
  action: string;
  threshold?: number;
  event?: string;
  enabled?: boolean;
}) {
  await sql`delete from traffic_rules where offer_id = ${ids.offer} and reason = ${r.reason} and coalesce(event, '') = ${r.event ?? ""}`;
  await sql`insert into traffic_rules (offer_id, reason, event, threshold, action, enabled)
            values (${ids.offer}, ${r.reason}, ${r.event ?? null}, ${r.threshold ?? null}, ${r.action}, ${r.enabled ?? true})`;
}

function click(over: Partial<ClickRecorded> & { at: Date; link?: number; aff?: string }): ClickRecorded {
  const link = over.link ?? ids.link;
  return {
    click_id: codec.mint(link, over.at),
    clicked_at: over.at.toISOString(),
    link_id: String(link),
    offer_id: ids.offer,
    affiliate_id: over.aff ?? ids.aff,
    brand_id: ids.brand,
    is_unique: true,
    ip: "198.51.100.1",
    user_agent: UA,
    referrer: null,
    subs: {},
    reasons: [],
    ...over,
  };
}

/** As attribution's click consumer: judged, stored, flagged rows marked. */
async function consume(clicks: ClickRecorded[]) {
  return sql.begin(async (tx) => {
    const judged = await judgeClicks(tx, { clicks });
    await storeClicks(tx, judged.batch);
    await markStoredClicks(tx, judged.batch, judged.flags);
    return judged;
  });
}

async function convert(
  clickId: string,
  occurredAt: Date,
  over: Partial<PostbackReceived> = {},
): Promise<Outcome> {
  receipt += 1;
  const p: PostbackReceived = {
    receipt_id: String(receipt),
    advertiser_id: ids.adv,
    brand_id: ids.brand,
    source: "s2s",
    click_id: clickId,
    txid: `tx-${receipt}`,
    ref_txid: null,
    event: "registration",
    status: null,
    amount: null,
    payout: null,
    currency: null,
    occurred_at: occurredAt.toISOString(),
    received_at: occurredAt.toISOString(),
    ...over,
  };
  return (await sql.begin((tx) => attribute(tx, codec, p))) as Outcome;
}

async function verdictOf(outcome: Outcome) {
  if (outcome.kind !== "created") throw new Error(`expected a conversion, got ${JSON.stringify(outcome)}`);
  const [c] = await sql`select status from conversions where id = ${outcome.conversionId}`;
  const hits =
    await sql`select reason, action, measured from conversion_rule_hits where conversion_id = ${outcome.conversionId}`;
  const [review] =
    await sql`select state, reject_reason from conversion_reviews where conversion_id = ${outcome.conversionId}`;
  const [first] =
    await sql`select reason from conversion_history where conversion_id = ${outcome.conversionId} and seq = 1`;
  return { status: c?.status, hits: [...hits], review, historyReason: first?.reason ?? null };
}

const base = new Date(Date.UTC(2026, 10, 20, 12, 0, 0));
const at = (seconds: number) => new Date(base.getTime() + seconds * 1000);

describe("click-to-conversion time", () => {
  test("ctit_too_fast fires below its minimum, not at it; the measured seconds are recorded; hold keeps it pending", async () => {
    await rule({ reason: "ctit_too_fast", event: "registration", threshold: 60, action: "hold" });
    const fast = await verdictOf(await convert(codec.mint(ids.link, at(0)), at(59)));
    expect(fast.status).toBe("pending");
    expect(fast.hits).toEqual([
      { reason: "ctit_too_fast", action: "hold", measured: { ctit_seconds: 59, min_seconds: 60 } },
    ]);
    expect(fast.review?.state).toBe("held");
    expect(fast.historyReason).toBe("ctit_too_fast");

    const onTime = await verdictOf(await convert(codec.mint(ids.link, at(1)), at(61)));
    expect(onTime).toMatchObject({ status: "approved", hits: [] });
    // Per event: ftd has no minimum of its own, and the default is off here.
    expect(
      (await verdictOf(await convert(codec.mint(ids.link, at(2)), at(3), { event: "ftd" }))).hits,
    ).toEqual([]);
    await rule({ reason: "ctit_too_fast", event: "registration", action: "flag", enabled: false });
  });

  test("ctit_too_slow fires above its maximum, not at it; reject rejects with the reason in the history", async () => {
    await rule({ reason: "ctit_too_slow", threshold: 3600, action: "reject" });
    const slow = await verdictOf(await convert(codec.mint(ids.link, at(10)), at(10 + 3601)));
    expect(slow.status).toBe("rejected");
    expect(slow.hits).toEqual([
      { reason: "ctit_too_slow", action: "reject", measured: { ctit_seconds: 3601, max_seconds: 3600 } },
    ]);
    expect(slow.review).toMatchObject({ state: "rejected", reject_reason: "ctit_too_slow" });
    expect(slow.historyReason).toBe("ctit_too_slow");
    expect((await verdictOf(await convert(codec.mint(ids.link, at(11)), at(11 + 3600)))).hits).toEqual([]);
    await rule({ reason: "ctit_too_slow", action: "flag", enabled: false });
  });

  test("a held conversion stays pending when the advertiser approves it; a rejection goes through", async () => {
    await rule({ reason: "ctit_too_fast", event: "registration", threshold: 30, action: "hold" });
    const clickId = codec.mint(ids.link, at(100));
    const created = await convert(clickId, at(101), { txid: "held-1", status: "pending" });
    expect(await verdictOf(created)).toMatchObject({ status: "pending", review: { state: "held" } });
    await convert(clickId, at(200), { txid: "held-1", status: "approved" });
    const [still] = await sql`select status from conversions where txid = 'held-1'`;
    expect(still?.status).toBe("pending");
    await convert(clickId, at(300), { txid: "held-1", status: "rejected" });
    const [rejected] = await sql`select status from conversions where txid = 'held-1'`;
    expect(rejected?.status).toBe("rejected");
    await rule({ reason: "ctit_too_fast", event: "registration", action: "flag", enabled: false });
  });
});

describe("click floods", () => {
  test("per IP: the threshold-th click of a minute passes, the next is flagged and not unique — across batches", async () => {
    await rule({ reason: "click_flood_ip", threshold: 3, action: "flag" });
    const ip = "198.51.100.33";
    const minute = Date.UTC(2026, 10, 20, 13, 0, 0);
    const first = [0, 1].map((s) => click({ at: new Date(minute + s * 1000), ip }));
    const second = [2, 3].map((s) => click({ at: new Date(minute + s * 1000), ip }));
    expect((await consume(first)).flags.size).toBe(0);
    const judged = await consume(second);
    expect([...judged.flags.keys()]).toEqual([second[1]?.click_id as string]);
    const rows =
      await sql`select click_id, is_unique, reasons from clicks where ip = ${ip} order by clicked_at`;
    expect(rows.map((r) => [r.is_unique, r.reasons])).toEqual([
      [true, []],
      [true, []],
      [true, []],
      [false, ["click_flood_ip"]],
    ]);
    // The next minute starts over.
    expect((await consume([click({ at: new Date(minute + 60_000), ip })])).flags.size).toBe(0);
    await rule({ reason: "click_flood_ip", action: "flag", enabled: false });
  });

  test("a second consumer judging the same batch reads the first verdict and counts nothing twice", async () => {
    await rule({ reason: "click_flood_link", threshold: 2, action: "flag" });
    const minute = Date.UTC(2026, 10, 20, 14, 0, 0);
    const batch = [0, 1, 2].map((s) =>
      click({ at: new Date(minute + s * 1000), link: ids.link2, aff: ids.aff2 }),
    );
    const a = await consume(batch);
    const b = await sql.begin((tx) => judgeClicks(tx, { clicks: batch }));
    expect([...a.flags]).toEqual([[batch[2]?.click_id as string, ["click_flood_link"]]]);
    expect([...b.flags]).toEqual([...a.flags]);
    expect(b.batch.clicks.map((c) => c.is_unique)).toEqual([true, true, false]);
    const [count] =
      await sql`select clicks from click_velocity where scope = 'link' and key = ${String(ids.link2)} and minute = ${new Date(minute)}`;
    expect(count?.clicks).toBe(3);
    await rule({ reason: "click_flood_link", action: "flag", enabled: false });
  });

  test("per affiliate + sub1: floods of one sub ID do not touch another", async () => {
    await rule({ reason: "click_flood_sub", threshold: 2, action: "flag" });
    const minute = Date.UTC(2026, 10, 20, 15, 0, 0);
    const batch = [0, 1, 2, 3].map((s) =>
      click({
        at: new Date(minute + s * 1000),
        ip: `198.51.100.${50 + s}`,
        subs: { sub1: s < 3 ? "burst" : "calm" },
      }),
    );
    const judged = await consume(batch);
    expect([...judged.flags]).toEqual([[batch[2]?.click_id as string, ["click_flood_sub"]]]);
    await rule({ reason: "click_flood_sub", action: "flag", enabled: false });
  });

  test("a conversion on a flagged click carries its reason, with the offer's action", async () => {
    await rule({ reason: "click_flood_ip", threshold: 1, action: "reject" });
    const ip = "198.51.100.77";
    const minute = Date.UTC(2026, 10, 20, 16, 0, 0);
    const batch = [0, 1].map((s) => click({ at: new Date(minute + s * 1000), ip }));
    await consume(batch);
    const flooded = await verdictOf(await convert(batch[1]?.click_id as string, new Date(minute + 120_000)));
    expect(flooded).toMatchObject({
      status: "rejected",
      hits: [{ reason: "click_flood_ip", action: "reject", measured: null }],
    });
    const clean = await verdictOf(await convert(batch[0]?.click_id as string, new Date(minute + 120_000)));
    expect(clean.hits).toEqual([]);
    await rule({ reason: "click_flood_ip", action: "flag", enabled: false });
  });
});

describe("IP lists", () => {
  test("data centre ranges flag clicks; an allow entry exempts; a block list rejects the conversion", async () => {
    const [dc] = await sql`insert into ip_lists (name, kind) values ('dc', 'datacenter') returning id`;
    const [allow] = await sql`insert into ip_lists (name, kind) values ('ok', 'allow') returning id`;
    const [block] = await sql`insert into ip_lists (name, kind) values ('bad', 'block') returning id`;
    await sql`insert into ip_list_entries (list_id, range) values (${dc?.id}, '203.0.113.0/24'), (${allow?.id}, '203.0.113.9/32'),
              (${block?.id}, '192.0.2.0/28')`;
    const t0 = Date.UTC(2026, 10, 20, 17, 0, 0);
    const batch = [
      click({ at: new Date(t0), ip: "203.0.113.8" }),
      click({ at: new Date(t0 + 1), ip: "203.0.113.9" }),
      click({ at: new Date(t0 + 2), ip: "203.0.114.1" }),
      click({ at: new Date(t0 + 3), ip: "192.0.2.15" }),
      click({ at: new Date(t0 + 4), ip: "192.0.2.16" }),
    ];
    const judged = await consume(batch);
    expect(judged.batch.clicks.map((c) => c.reasons)).toEqual([
      ["ip_datacenter"],
      [],
      [],
      ["ip_blocked"],
      [],
    ]);
    const blocked = await verdictOf(await convert(batch[3]?.click_id as string, new Date(t0 + 600_000)));
    expect(blocked).toMatchObject({
      status: "rejected",
      hits: [{ reason: "ip_blocked", action: "reject", measured: { ip: "192.0.2.15" } }],
    });
    // A range added after the click still counts at conversion time.
    await sql`insert into ip_list_entries (list_id, range) values (${block?.id}, '192.0.2.16/32')`;
    expect(
      (await verdictOf(await convert(batch[4]?.click_id as string, new Date(t0 + 600_000)))).status,
    ).toBe("rejected");
  });
});

describe("same device and self-referral", () => {
  test("one IP + user agent converting for a second affiliate inside the window is flagged; the first is not", async () => {
    await rule({ reason: "same_device", threshold: 24, action: "hold" });
    const t0 = Date.UTC(2026, 10, 21, 9, 0, 0);
    const ip = "198.51.100.200";
    const c1 = click({ at: new Date(t0), ip });
    const c2 = click({ at: new Date(t0 + 1000), ip, link: ids.link2, aff: ids.aff2 });
    const c3 = click({
      at: new Date(t0 + 2000),
      ip,
      user_agent: `${UA} other`,
      link: ids.link2,
      aff: ids.aff2,
    });
    await consume([c1, c2, c3]);
    const first = await verdictOf(await convert(c1.click_id, new Date(t0 + 600_000)));
    expect(first.hits).toEqual([]);
    const second = await verdictOf(await convert(c2.click_id, new Date(t0 + 700_000)));
    expect(second).toMatchObject({
      status: "pending",
      hits: [{ reason: "same_device", action: "hold", measured: { other_affiliates: 1, window_hours: 24 } }],
    });
    // Another user agent on the same address is another device.
    expect((await verdictOf(await convert(c3.click_id, new Date(t0 + 800_000)))).hits).toEqual([]);
    // Outside the window it is not flagged.
    const late = click({ at: new Date(t0 + 30 * 3_600_000), ip, link: ids.link2, aff: ids.aff2 });
    await consume([late]);
    expect(
      (await verdictOf(await convert(late.click_id, new Date(t0 + 30 * 3_600_000 + 1000)))).hits,
    ).toEqual([]);
    await rule({ reason: "same_device", action: "flag", enabled: false });
  });

  test("a conversion from an address the affiliate used is a self-referral", async () => {
    await rule({ reason: "self_referral", action: "hold" });
    await sql`insert into affiliate_addresses (affiliate_id, ip, source) values (${ids.aff}, '198.51.100.222', 'api_key')`;
    const t0 = Date.UTC(2026, 10, 22, 9, 0, 0);
    const own = click({ at: new Date(t0), ip: "198.51.100.222" });
    const other = click({ at: new Date(t0 + 1), ip: "198.51.100.223" });
    await consume([own, other]);
    expect(await verdictOf(await convert(own.click_id, new Date(t0 + 600_000)))).toMatchObject({
      status: "pending",
      hits: [
        { reason: "self_referral", action: "hold", measured: { ip: "198.51.100.222", seen_by: "api_key" } },
      ],
    });
    expect((await verdictOf(await convert(other.click_id, new Date(t0 + 600_000)))).hits).toEqual([]);

    // The address one of the affiliate's users signed in to the console from.
    const [user] = await sql`insert into users (email, role, affiliate_id, password_hash)
      values ('aff@example.test', 'affiliate', ${ids.aff}, 'x') returning id`;
    await sql`insert into user_sessions (user_id, token_hash, expires_at, idle_seconds, max_expires_at, ip)
      values (${user?.id}, 'h1', now() + interval '1 hour', 3600, now() + interval '1 day', '198.51.100.224')`;
    const signedIn = click({ at: new Date(t0 + 2), ip: "198.51.100.224" });
    await consume([signedIn]);
    expect((await verdictOf(await convert(signedIn.click_id, new Date(t0 + 600_000)))).hits).toEqual([
      { reason: "self_referral", action: "hold", measured: { ip: "198.51.100.224", seen_by: "sign_in" } },
    ]);
  });
});
