import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { adminHarness, type Harness, program } from "../../test-support.ts";

let h: Harness;
let p: Awaited<ReturnType<typeof program>>;

beforeAll(async () => {
  h = await adminHarness("trace");
  p = await program(h);
});
afterAll(async () => {
  await h?.cleanup();
});

type Trace = {
  clicks: { id_check: string; stored: boolean }[];
  postback_requests: { outcome: string; reason: string | null; params: Record<string, string> }[];
  receipts: { id: string; decision: string }[];
};

async function receipt(clickId: string, txid: string, status: string | null) {
  const [r] = await h.sql`
    insert into postback_receipts (advertiser_id, brand_id, dedup_key, click_id, txid, event, status)
    values (${p.advertiser.id}, ${p.brand.id}, ${`tx:${txid}|ftd|${status ?? ""}`}, ${clickId}, ${txid}, 'ftd', ${status})
    returning id`;
  await h.sql`insert into postback_log (advertiser_id, source, method, params, outcome, http_status, receipt_id)
              values (${p.advertiser.id}, 's2s', 'GET', ${h.sql.json({ cid: clickId, txid, token: "***" })}, 'accepted', 200, ${r?.id})`;
  return r?.id as string;
}

describe("the trace explains each postback", () => {
  test("rejected by attribution, waiting for attribution, a duplicate, and requests refused before a receipt", async () => {
    const clickId = h.codec.mint(Number(p.link.id), new Date(Date.now() - 60_000));
    const rejected = await receipt(clickId, "tr-1", null);
    await h.sql`insert into attribution_rejections (receipt_id, advertiser_id, event, reason) values (${rejected}, ${p.advertiser.id}, 'ftd', 'outside_window')`;
    const waiting = await receipt(clickId, "tr-2", null);
    const dup = await receipt(clickId, "tr-3", "approved");
    await h.sql`insert into bus_inbox (consumer, message_id) values ('attribution-postbacks', ${`pb:${p.advertiser.id}:tx:tr-3|ftd|approved`})`;
    // Refused at the door (unreplaced macro, bad token) under the advertiser's own parameter names.
    await h.sql`insert into postback_log (advertiser_id, source, method, params, outcome, reason, http_status)
                values (${p.advertiser.id}, 's2s', 'GET', ${h.sql.json({ clickid: clickId, token: "leaked-secret" })}, 'unauthorized', 'bad_token', 401),
                       (null, 's2s', 'GET', ${h.sql.json({ aff_sub: clickId, txid: "{transaction_id}" })}, 'invalid', 'unreplaced_macro', 400)`;

    const t = await h.call<Trace>("GET", `/v1/trace?click_id=${clickId}`, h.keys.analyst);
    expect(t.status).toBe(200);
    expect(t.body.clicks[0]).toMatchObject({ id_check: "valid", stored: false });
    const decision = (id: string) => t.body.receipts.find((r) => r.id === id)?.decision;
    expect(decision(rejected)).toBe("rejected by attribution: outside_window");
    expect(decision(waiting)).toBe("accepted at the gateway, waiting for attribution (delayed)");
    expect(decision(dup)).toBe("duplicate: the conversion already had this status");
    const refused = t.body.postback_requests
      .filter((r) => r.outcome !== "accepted")
      .map((r) => r.reason)
      .sort();
    expect(refused).toEqual(["bad_token", "unreplaced_macro"]);
    expect(t.text.includes("leaked-secret")).toBe(false);

    const forged = await h.call<Trace>("GET", `/v1/trace?click_id=${clickId.slice(0, -2)}xx`, h.keys.analyst);
    expect(forged.body.clicks[0]?.id_check).toMatch(/^invalid/);
    const none = await h.call<{ error: { field: string } }>("GET", "/v1/trace", h.keys.analyst);
    expect(none.status).toBe(400);
  });
});

describe("a refund that arrives first", () => {
  test("the trace says it is parked for its txid, not a duplicate", async () => {
    const clickId = h.codec.mint(Number(p.link.id), new Date(Date.now() - 60_000));
    const refund = await receipt(clickId, "tr-ref", null);
    await h.sql`insert into bus_inbox (consumer, message_id) values ('attribution-postbacks', ${`pb:${p.advertiser.id}:tx:tr-ref|ftd|`})`;
    await h.sql`insert into pending_reversals (advertiser_id, txid, receipt_id, event) values (${p.advertiser.id}, 'DEP-9', ${refund}, 'refund')`;
    const t = await h.call<Trace>("GET", `/v1/trace?click_id=${clickId}`, h.keys.analyst);
    expect(t.body.receipts.find((r) => r.id === refund)?.decision).toBe(
      "refund of txid DEP-9 parked: no conversion of it yet; any that arrives is reversed at once",
    );
  });
});

describe("a conversion commission cannot book yet", () => {
  test("the trace names the reason it is blocked, and the timeline says so", async () => {
    const clickId = h.codec.mint(Number(p.link.id), new Date(Date.now() - 60_000));
    const [c] = await h.sql`
      insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event,
                               status, amount, currency, occurred_at, receipt_id)
      values (${p.advertiser.id}, ${p.brand.id}, ${p.offer.id}, ${p.affiliate.id}, ${p.link.id}, ${clickId}, now(), 'tr-blk',
              'ftd', 'approved', 100, 'XXX', now(), 1)
      returning id`;
    const message = "no FX rate XXX→EUR in force at 2026-03-10T12:00:00.000Z";
    await h.sql`insert into commission_blocks (conversion_id, change_seq, change, reason, detail, message)
                values (${c?.id}, 1, '{}', 'fx_rate_missing', ${h.sql.json({ from: "XXX", to: "EUR" })}, ${message})`;
    const t = await h.call<{
      conversions: { id: string; commission_blocked: { reason: string; message: string } | null }[];
      timeline: { kind: string; summary: string }[];
    }>("GET", `/v1/trace?conversion_id=${c?.id}`, h.keys.analyst);
    expect(t.status).toBe(200);
    expect(t.body.conversions[0]?.commission_blocked).toMatchObject({ reason: "fx_rate_missing", message });
    expect(t.body.timeline.find((e) => e.kind === "blocked")?.summary).toContain("fx_rate_missing");
  });
});

describe("the timeline in words", () => {
  test("ledger amounts in the currency's minor units, not the ledger's six places", async () => {
    const clickId = h.codec.mint(Number(p.link.id), new Date(Date.now() - 60_000));
    const [c] = await h.sql`
      insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event,
                               status, amount, currency, occurred_at, receipt_id)
      values (${p.advertiser.id}, ${p.brand.id}, ${p.offer.id}, ${p.affiliate.id}, ${p.link.id}, ${clickId}, now(), 'tr-words',
              'ftd', 'approved', 100, 'EUR', now(), 1)
      returning id`;
    await h.sql`
      insert into ledger_entries (conversion_id, change_seq, affiliate_id, offer_id, type, payout, revenue, currency,
                                  affiliate_payout, affiliate_currency)
      values (${c?.id}, 1, ${p.affiliate.id}, ${p.offer.id}, 'commission', 25.5, 40, 'EUR', 25.5, 'EUR')`;
    const t = await h.call<{ timeline: { kind: string; summary: string }[] }>(
      "GET",
      `/v1/trace?conversion_id=${c?.id}`,
      h.keys.analyst,
    );
    expect(t.body.timeline.find((e) => e.kind === "ledger")?.summary).toBe(
      "commission 25.50 EUR (revenue 40.00 EUR)",
    );
  });
});

describe("a conversion over its cap", () => {
  test("the trace says it is held back and why, on the receipt, the conversion and the timeline", async () => {
    const clickId = h.codec.mint(Number(p.link.id), new Date(Date.now() - 60_000));
    const rcpt = await receipt(clickId, "tr-cap", null);
    const [c] = await h.sql`
      insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event,
                               status, currency, occurred_at, receipt_id, cap_blocked_since)
      values (${p.advertiser.id}, ${p.brand.id}, ${p.offer.id}, ${p.affiliate.id}, ${p.link.id}, ${clickId}, now(), 'tr-cap',
              'ftd', 'approved', 'EUR', now(), ${rcpt}, now())
      returning id`;
    await h.sql`insert into conversion_history (conversion_id, seq, status, receipt_id, reason)
                values (${c?.id}, 1, 'approved', ${rcpt}, 'over_cap')`;
    const t = await h.call<
      Trace & {
        conversions: { id: string; cap_blocked: { reason: string; message: string } | null }[];
        timeline: { kind: string; summary: string }[];
      }
    >("GET", `/v1/trace?click_id=${clickId}`, h.keys.analyst);
    expect(t.status).toBe(200);
    expect(t.body.receipts.find((r) => r.id === rcpt)?.decision).toContain("over its cap: held back");
    expect(t.body.conversions[0]?.cap_blocked).toMatchObject({ reason: "over_cap" });
    expect(t.body.timeline.find((e) => e.kind === "blocked")?.summary).toContain("over_cap");
    // Released: the trace no longer calls it blocked.
    await h.sql`update conversions set cap_blocked_since = null where id = ${c?.id}`;
    const after = await h.call<{ conversions: { cap_blocked: unknown }[] }>(
      "GET",
      `/v1/trace?click_id=${clickId}`,
      h.keys.analyst,
    );
    expect(after.body.conversions[0]?.cap_blocked).toBeNull();
  });
});

describe("raw clicks", () => {
  test("page newest first over a period, exactly once each", async () => {
    const base = Date.now() - 3_600_000;
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const at = new Date(base + Math.floor(i / 2) * 1_000 + 123); // pairs share a second
      const id = h.codec.mint(Number(p.link.id), at);
      ids.push(id);
      await h.sql`insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id)
                  values (${id}, ${at}, ${p.link.id}, ${p.offer.id}, ${p.affiliate.id}, ${p.brand.id})`;
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { status: number; body: { data: { click_id: string }[]; next_cursor: string | null } } =
        await h.call(
          "GET",
          `/v1/clicks?limit=3&from=${new Date(base - 1000).toISOString()}${cursor ? `&cursor=${cursor}` : ""}`,
          h.keys.analyst,
        );
      expect(res.status).toBe(200);
      seen.push(...res.body.data.map((c) => c.click_id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(seen.sort()).toEqual([...ids].sort());
    const one = await h.call<{ click_id: string }>("GET", `/v1/clicks/${ids[3]}`, h.keys.analyst);
    expect(one.body.click_id).toBe(ids[3] as string);
  });
});

describe("a conversion waiting for its click row", () => {
  test("the trace says it is held back until its click is stored, on the conversion and the timeline", async () => {
    const clickId = h.codec.mint(Number(p.link.id), new Date(Date.now() - 5_000));
    const rcpt = await receipt(clickId, "tr-wait", null);
    const [c] = await h.sql`
      insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event,
                               status, currency, occurred_at, receipt_id, awaiting_click_since)
      values (${p.advertiser.id}, ${p.brand.id}, ${p.offer.id}, ${p.affiliate.id}, ${p.link.id}, ${clickId}, now(), 'tr-wait',
              'ftd', 'approved', 'EUR', now(), ${rcpt}, now())
      returning id`;
    await h.sql`insert into conversion_history (conversion_id, seq, status, receipt_id) values (${c?.id}, 1, 'approved', ${rcpt})`;
    type Waiting = Trace & {
      conversions: { id: string; awaiting_click: { reason: string; message: string } | null }[];
      timeline: { kind: string; summary: string }[];
    };
    const t = await h.call<Waiting>("GET", `/v1/trace?click_id=${clickId}`, h.keys.analyst);
    expect(t.status).toBe(200);
    expect(t.body.conversions[0]?.awaiting_click).toMatchObject({ reason: "awaiting_click" });
    expect(t.body.conversions[0]?.awaiting_click?.message).toContain("until the click is stored");
    expect(t.body.timeline.find((e) => e.kind === "blocked")?.summary).toContain("waiting for its click");
    await h.sql`update conversions set awaiting_click_since = null where id = ${c?.id}`;
    const after = await h.call<Waiting>("GET", `/v1/trace?click_id=${clickId}`, h.keys.analyst);
    expect(after.body.conversions[0]?.awaiting_click).toBeNull();
    expect(after.body.timeline.some((e) => e.summary.includes("waiting for its click"))).toBe(false);
  });
});
