/**
 * The launch validation protocol from the S2S guides, end to end through the six real services:
 * five test affiliates with distinct links, click → registration → deposit for each, a visitor
 * who clicked two affiliates' links, an expired attribution window, a postback that overtakes
 * its click, the same postback fired concurrently, status updates out of order, a refund that
 * reverses an approved deposit, and a hybrid S2S + pixel report. Every conversion count, ledger
 * entry, payout and affiliate postback is checked at the end.
 *
 * Payouts rely only on CPA rules per event and on refunds booking a reversal.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ClickIdCodec } from "@roundtrip/clickid";
import { type ReceivedPostback, startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { CLICK_ID_KEYS, eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

const codec = ClickIdCodec.fromSpec(CLICK_ID_KEYS);
const VISITOR_UA = "Mozilla/5.0 (X11; Linux x86_64) LaunchProtocol/1.0";

let env: TestStack;
let endpoint: ReturnType<typeof startAffiliateEndpoint>;
let advertiser: { id: string; token: string };
let offerId: string;
const affiliates: { id: string; link: { id: string; code: string } }[] = [];

beforeAll(async () => {
  endpoint = startAffiliateEndpoint();
  env = await startTestStack("launch");
  const brand = await env.admin.post<{ id: string }>("/v1/brands", {
    slug: "launch",
    name: "Launch",
    currency: "EUR",
  });
  advertiser = await env.admin.post("/v1/advertisers", {
    brand_id: brand.id,
    name: "Casino",
    pixel_enabled: true,
  });
  const offer = await env.admin.post<{ id: string }>("/v1/offers", {
    brand_id: brand.id,
    advertiser_id: advertiser.id,
    name: "Welcome",
    destination_url: "https://casino.example/landing?cid={click_id}&s1={sub1}",
    currency: "EUR",
    events: [
      { code: "registration", window_days: 30 },
      { code: "deposit", window_days: 30 },
    ],
  });
  offerId = offer.id;
  for (const [event, payout] of [
    ["registration", "5.00"],
    ["deposit", "25.00"],
  ]) {
    await env.admin.post("/v1/payout-rules", {
      offer_id: offerId,
      event,
      model: "cpa",
      payout,
      revenue: "40.00",
      currency: "EUR",
    });
  }
  for (let i = 1; i <= 5; i++) {
    const affiliate = await env.admin.post<{ id: string }>("/v1/affiliates", {
      name: `Test affiliate ${i}`,
      payout_currency: "EUR",
    });
    const link = await env.admin.post<{ id: string; code: string }>("/v1/links", {
      offer_id: offerId,
      affiliate_id: affiliate.id,
      code: `launch-a${i}`,
    });
    await env.admin.post("/v1/affiliate-postbacks", {
      affiliate_id: affiliate.id,
      url_template: `${endpoint.url}/pb/a${i}?cid={click_id}&tx={txid}&ev={event}&st={status}&pay={payout}&s1={sub1}`,
    });
    affiliates.push({ id: affiliate.id, link });
  }
  // The gateway's directory follows admin's changes like the click cache does (within ~100 ms):
  // wait until it knows every new link (an event it refuses as invalid, not as an unknown click).
  for (const { link } of affiliates) {
    const probe = codec.mint(Number(link.id));
    await eventually(async () => {
      const res = await fetch(
        `${env.urls.gateway}/postback?click_id=${probe}&event=not-an-event&token=${advertiser.token}`,
      );
      return res.status === 400;
    }, `the gateway to know link ${link.code}`);
  }
}, 120_000);

afterAll(async () => {
  await env?.stop();
  endpoint?.stop();
}, 60_000);

const A = (n: number) => affiliates[n - 1] as { id: string; link: { id: string; code: string } };

/** A visitor's click through the real click service: the click ID from the redirect, and the cookie. */
async function click(n: number, sub1 = `visitor-${n}`, headers: Record<string, string> = {}) {
  const res = await eventually(async () => {
    const r = await fetch(`${env.urls.click}/c/${A(n).link.code}?sub1=${sub1}`, {
      redirect: "manual",
      headers: { "user-agent": VISITOR_UA, ...headers },
    });
    return r.status === 302 ? r : undefined;
  }, "the tracking link to redirect");
  const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
  expect(res.headers.get("set-cookie")).toContain(`rt_cid=${clickId}`);
  return clickId;
}

/** The advertiser's server reporting an event. */
async function postback(params: Record<string, string>) {
  const res = await fetch(
    `${env.urls.gateway}/postback?${new URLSearchParams({ token: advertiser.token, ...params })}`,
  );
  return {
    status: res.status,
    body: (await res.json()) as { status: string; duplicate?: boolean; receipt_id?: string },
  };
}

async function conversion(txid: string, event = "deposit") {
  return eventually(async () => {
    const [row] =
      await env.sql`select id, affiliate_id, status, subs, source from conversions where txid = ${txid} and event = ${event}`;
    return row;
  }, `the ${event} conversion ${txid}`);
}

const sent = (n: number, txid?: string) =>
  endpoint.received.filter(
    (p: ReceivedPostback) =>
      p.url.pathname === `/pb/a${n}` && (!txid || p.url.searchParams.get("tx") === txid),
  );

describe("the launch validation protocol", () => {
  test("click → registration → deposit for each of five affiliates", async () => {
    for (let n = 1; n <= 5; n++) {
      const clickId = await click(n);
      expect((await postback({ click_id: clickId, txid: `REG-${n}`, event: "registration" })).status).toBe(
        200,
      );
      expect(
        (await postback({ click_id: clickId, txid: `DEP-${n}`, event: "deposit", amount: "100.00" })).status,
      ).toBe(200);
    }
    for (let n = 1; n <= 5; n++) {
      expect((await conversion(`REG-${n}`, "registration")).affiliate_id).toBe(A(n).id);
      expect((await conversion(`DEP-${n}`)).affiliate_id).toBe(A(n).id);
    }
  });

  test("one visitor, two affiliates' links: the click ID in the postback decides", async () => {
    const first = await click(1, "multi", { "x-forwarded-for": "198.51.100.9" });
    const second = await click(2, "multi", { "x-forwarded-for": "198.51.100.9" });
    expect(second).not.toBe(first);
    await postback({ click_id: first, txid: "V-REG", event: "registration" });
    await postback({ click_id: second, txid: "V-DEP", event: "deposit", amount: "50.00" });
    expect((await conversion("V-REG", "registration")).affiliate_id).toBe(A(1).id);
    expect((await conversion("V-DEP")).affiliate_id).toBe(A(2).id);
  });

  test("a click older than the event's window is refused with outside_window", async () => {
    const old = codec.mint(Number(A(3).link.id), new Date(Date.now() - 40 * 86_400_000));
    const answer = await postback({ click_id: old, txid: "EXPIRED-1", event: "deposit", amount: "100.00" });
    expect(answer.status).toBe(200); // accepted at the edge; attribution refuses it
    const reason = await eventually(async () => {
      const [r] =
        await env.sql`select reason from attribution_rejections where receipt_id = ${answer.body.receipt_id as string}`;
      return r?.reason;
    }, "the refusal");
    expect(reason).toBe("outside_window");
  });

  test("a postback that arrives before its click is stored is credited, then enriched when the click lands", async () => {
    const clickedAt = new Date();
    const clickId = codec.mint(Number(A(4).link.id), clickedAt);
    await postback({ click_id: clickId, txid: "EARLY-1", event: "deposit", amount: "100.00" });
    const early = await conversion("EARLY-1");
    expect(early).toMatchObject({ affiliate_id: A(4).id, subs: null });
    // The click's batch commits now, exactly as the click service writes it (row + CLICKS event).
    await env.sql`
      with c as (
        insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, subs)
        select ${clickId}, ${clickedAt}, l.id, l.offer_id, l.affiliate_id, o.brand_id, ${env.sql.json({ sub1: "late-click" })}
        from links l join offers o on o.id = l.offer_id where l.id = ${A(4).link.id}
        returning *
      )
      insert into bus_outbox (subject, msg_id, payload)
      select 'clicks.recorded', ${`clicks:${clickId}`}, jsonb_build_object('clicks', jsonb_agg(jsonb_build_object(
        'click_id', click_id, 'clicked_at', to_char(clicked_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'link_id', link_id::text, 'offer_id', offer_id::text, 'affiliate_id', affiliate_id::text,
        'brand_id', brand_id::text, 'is_unique', true)))
      from c`;
    await env.sql`select pg_notify('bus_outbox', '')`;
    await eventually(async () => {
      const [r] = await env.sql`select subs from conversions where id = ${early.id}`;
      return r?.subs?.sub1 === "late-click";
    }, "the conversion to be enriched from its click");
  });

  test("the same postback fired 20 times at once is booked once", async () => {
    const clickId = await click(5);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        postback({ click_id: clickId, txid: "DUP-1", event: "deposit", amount: "100.00" }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(answers.filter((a) => a.body.duplicate === false)).toHaveLength(1);
    expect(new Set(answers.map((a) => a.body.receipt_id)).size).toBe(1);
    await conversion("DUP-1");
  });

  test("status updates out of order end in the right final state", async () => {
    const a1 = await click(1);
    await postback({ click_id: a1, txid: "OOO-1", event: "deposit", amount: "100.00", status: "approved" });
    await conversion("OOO-1");
    await postback({ click_id: a1, txid: "OOO-1", event: "deposit", amount: "100.00", status: "pending" });

    const a5 = await click(5);
    await postback({ click_id: a5, txid: "OOO-2", event: "deposit", amount: "100.00", status: "pending" });
    await conversion("OOO-2");
    // The reversal overtakes the approval: it implies it, and the late approval changes nothing.
    await postback({ click_id: a5, txid: "OOO-2", event: "deposit", status: "reversed" });
    await eventually(async () => (await conversion("OOO-2")).status === "reversed", "OOO-2 reversed");
    await postback({ click_id: a5, txid: "OOO-2", event: "deposit", status: "approved" });

    // Let the stale updates be processed before judging the final state.
    await eventually(async () => {
      const [r] =
        await env.sql`select count(*)::int as n from attribution_rejections where reason = 'stale_status'`;
      return r?.n === 2;
    }, "both stale updates recorded");
    expect((await conversion("OOO-1")).status).toBe("approved");
    expect((await conversion("OOO-2")).status).toBe("reversed");
  });

  test("a refund referencing the txid reverses an approved deposit", async () => {
    expect((await conversion("DEP-2")).status).toBe("approved");
    const clickId = (await env.sql`select click_id from conversions where txid = 'DEP-2'`)[0]
      ?.click_id as string;
    expect(
      (await postback({ click_id: clickId, txid: "RF-2", ref_txid: "DEP-2", event: "refund" })).status,
    ).toBe(200);
    await eventually(async () => (await conversion("DEP-2")).status === "reversed", "DEP-2 reversed");
  });

  let hybridClick = "";
  test("hybrid: the pixel and the S2S report of one deposit book it once (S2S wins)", async () => {
    const clickId = await click(3);
    hybridClick = clickId;
    const pixel = await fetch(`${env.urls.gateway}/pixel?event=deposit&amount=99.00`, {
      headers: { cookie: `rt_cid=${clickId}` },
    });
    expect(pixel.status).toBe(200);
    expect(pixel.headers.get("content-type")).toBe("image/gif");
    await eventually(
      async () => (await env.sql`select 1 from conversions where click_id = ${clickId}`).length === 1,
      "the pixel conversion",
    );
    await postback({ click_id: clickId, txid: "PX-1", event: "deposit", amount: "100.00" });
    await eventually(async () => {
      const rows =
        await env.sql`select txid, source, amount::text from conversions where click_id = ${clickId} and event = 'deposit'`;
      return (
        rows.length === 1 &&
        rows[0]?.source === "s2s" &&
        rows[0]?.txid === "PX-1" &&
        rows[0]?.amount === "100.000000"
      );
    }, "the S2S report to take the pixel's conversion over");
  });

  test("every count and payout", async () => {
    // Conversions per affiliate (event, final status).
    const expected: Record<number, string[]> = {
      1: [
        "deposit approved DEP-1",
        "deposit approved OOO-1",
        "registration approved REG-1",
        "registration approved V-REG",
      ],
      2: ["deposit approved V-DEP", "deposit reversed DEP-2", "registration approved REG-2"],
      3: ["deposit approved DEP-3", "deposit approved PX-1", "registration approved REG-3"],
      4: ["deposit approved DEP-4", "deposit approved EARLY-1", "registration approved REG-4"],
      5: [
        "deposit approved DEP-5",
        "deposit approved DUP-1",
        "deposit reversed OOO-2",
        "registration approved REG-5",
      ],
    };
    for (let n = 1; n <= 5; n++) {
      const rows = await env.sql`select event, status, txid from conversions where affiliate_id = ${A(n).id}`;
      expect(rows.map((r) => `${r.event} ${r.status} ${r.txid}`).sort()).toEqual(expected[n] as string[]);
    }
    const [{ total }] = (await env.sql`select count(*)::int as total from conversions`) as unknown as [
      { total: number },
    ];
    expect(total).toBe(17);

    // Ledger: one commission per conversion, one reversal per reversed one; payouts to the cent.
    const ledger = async (n: number) =>
      eventually(async () => {
        const rows = await env.sql`
          select type, count(*)::int as n, sum(payout)::text as payout from ledger_entries
          where affiliate_id = ${A(n).id} group by type order by type`;
        const byType = Object.fromEntries(rows.map((r) => [r.type, { n: r.n, payout: r.payout }]));
        const expectedEntries = expected[n]?.length ?? 0;
        return byType.commission?.n === expectedEntries ? byType : undefined;
      }, `affiliate ${n}'s ledger`);
    expect(await ledger(1)).toEqual({ commission: { n: 4, payout: "60.000000" } });
    // The reversals wait longer than eventually's 15 s: a loaded CI machine (the cluster test's
    // processes just ended) took more than that once.
    const l2 = await eventually(
      async () => {
        const l = await ledger(2);
        return l.reversal ? l : undefined;
      },
      "the refund's reversal",
      45_000,
    );
    expect(l2).toEqual({
      commission: { n: 3, payout: "55.000000" },
      reversal: { n: 1, payout: "-25.000000" },
    });
    expect(await ledger(3)).toEqual({ commission: { n: 3, payout: "55.000000" } });
    expect(await ledger(4)).toEqual({ commission: { n: 3, payout: "55.000000" } });
    const l5 = await eventually(
      async () => {
        const l = await ledger(5);
        return l.reversal ? l : undefined;
      },
      "OOO-2's reversal",
      45_000,
    );
    expect(l5).toEqual({
      commission: { n: 4, payout: "80.000000" },
      reversal: { n: 1, payout: "-25.000000" },
    });
    const [net] = await env.sql`select sum(payout)::text as net from ledger_entries`;
    expect(net?.net).toBe("255.000000"); // 60 + 30 + 55 + 55 + 55

    // Refused and duplicate postbacks are counted, never booked.
    const [expired] = await env.sql`select count(*)::int as n from conversions where txid = 'EXPIRED-1'`;
    expect(expired?.n).toBe(0);
    const [dup] = await env.sql`select duplicates from postback_receipts where txid = 'DUP-1'`;
    expect(dup?.duplicates).toBe(19);
    const reasons =
      await env.sql`select reason, count(*)::int as n from attribution_rejections group by reason order by reason`;
    expect(Object.fromEntries(reasons.map((r) => [r.reason, r.n]))).toEqual({
      outside_window: 1,
      stale_status: 2,
    });

    // Affiliates hear about each booked change once: the duplicate once, the refund as a reversal.
    await eventually(async () => sent(2, "DEP-2").length === 2, "DEP-2's approval and reversal postbacks");
    await Bun.sleep(1_000);
    expect(sent(5, "DUP-1")).toHaveLength(1);
    expect(sent(2, "DEP-2").map((p) => p.url.searchParams.get("st"))).toEqual(["approved", "reversed"]);
    // The pixel's conversion is pending (a browser sets no money) until the S2S report approves it.
    expect(
      sent(3)
        .filter((p) => p.url.searchParams.get("cid") === hybridClick)
        .map((p) => p.url.searchParams.get("st")),
    ).toEqual(["pending", "approved"]);
    expect(sent(1, "V-REG")).toHaveLength(1);
    expect(sent(2, "V-REG")).toHaveLength(0);
    expect(sent(2, "V-DEP")[0]?.url.searchParams.get("pay")).toBe("25.00");
  }, 150_000);
});
