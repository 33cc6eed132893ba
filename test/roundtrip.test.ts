import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ReceivedPostback, startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { createProgram, type Program } from "./support/fixtures.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

let env: TestStack;
let affiliate: ReturnType<typeof startAffiliateEndpoint>;
let program: Program;

beforeAll(async () => {
  affiliate = startAffiliateEndpoint();
  env = await startTestStack("roundtrip");
  program = await createProgram(env.admin, { postbackUrl: affiliate.url });
}, 120_000);

afterAll(async () => {
  await env?.stop();
  affiliate?.stop();
}, 60_000);

/** Follows the tracking link (the click cache picks the new link up within a second). */
async function click(query = ""): Promise<{ clickId: string; location: URL }> {
  const res = await eventually(async () => {
    const r = await fetch(`${env.urls.click}/c/${program.link.code}${query}`, { redirect: "manual" });
    return r.status === 302 ? r : undefined;
  }, "the tracking link to redirect");
  const location = new URL(res.headers.get("location") as string);
  const clickId = location.searchParams.get("cid") as string;
  return { clickId, location };
}

function postback(params: Record<string, string>) {
  return fetch(
    `${env.urls.gateway}/postback?${new URLSearchParams({ token: program.advertiser.token, ...params })}`,
  );
}

const forClick = (clickId: string) => (p: ReceivedPostback) => p.url.searchParams.get("cid") === clickId;

describe("the round trip through the six services", () => {
  test("click → 302 with a click ID → postback 200 → one conversion, one ledger entry, one affiliate postback", async () => {
    const { clickId, location } = await click("?sub1=news%20letter&url=https://evil.example");
    expect(location.origin).toBe("https://casino.example");
    expect(location.searchParams.get("aff")).toBe(program.affiliate.id);
    expect(location.searchParams.get("s1")).toBe("news letter");
    expect(clickId.length).toBeLessThanOrEqual(40);

    const res = await postback({ click_id: clickId, txid: "tx-1", event: "ftd", amount: "100.00" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; receipt_id: string; duplicate: boolean };
    expect(body).toMatchObject({ status: "accepted", duplicate: false });
    // The 200 came after the commit: the receipt is already there.
    const [receipt] = await env.sql`select txid, event from postback_receipts where id = ${body.receipt_id}`;
    expect(receipt).toEqual({ txid: "tx-1", event: "ftd" });

    const sent = await eventually(
      async () => affiliate.received.find(forClick(clickId)),
      "the affiliate postback",
    );
    expect(Object.fromEntries(sent.url.searchParams)).toEqual({
      cid: clickId,
      tx: "tx-1",
      ev: "ftd",
      st: "approved",
      pay: "25.00",
      cur: "EUR",
      s1: "news letter",
    });
    expect(sent.headers.get("webhook-id")).toBeTruthy();

    const conversions =
      await env.sql`select id, status, event, amount::text from conversions where click_id = ${clickId}`;
    expect([...conversions]).toEqual([
      { id: expect.any(String), status: "approved", event: "ftd", amount: "100.000000" },
    ]);
    const ledger =
      await env.sql`select type, payout::text, currency from ledger_entries where conversion_id = ${conversions[0]?.id}`;
    expect([...ledger]).toEqual([{ type: "commission", payout: "25.000000", currency: "EUR" }]);
  });

  test("the same postback 20 times at once → one conversion, one ledger entry, one outbound postback, 19 duplicates", async () => {
    const { clickId } = await click();
    const params = { click_id: clickId, txid: "tx-burst", event: "ftd", amount: "50.00" };
    const answers = await Promise.all(Array.from({ length: 20 }, () => postback(params)));
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
    const bodies = (await Promise.all(answers.map((r) => r.json()))) as {
      duplicate: boolean;
      receipt_id: string;
    }[];
    expect(bodies.filter((b) => !b.duplicate)).toHaveLength(1);
    expect(bodies.filter((b) => b.duplicate)).toHaveLength(19);
    expect(new Set(bodies.map((b) => b.receipt_id)).size).toBe(1);

    await eventually(async () => affiliate.received.some(forClick(clickId)), "the affiliate postback");
    // Give any duplicate a chance to show up before counting.
    await Bun.sleep(1_500);
    expect(affiliate.received.filter(forClick(clickId))).toHaveLength(1);
    const conversions = await env.sql`select id from conversions where click_id = ${clickId}`;
    expect(conversions).toHaveLength(1);
    const [{ n }] =
      (await env.sql`select count(*)::int as n from ledger_entries where conversion_id = ${conversions[0]?.id}`) as unknown as [
        { n: number },
      ];
    expect(n).toBe(1);
  });

  test("a forged click ID is refused with 422 before anything is queued", async () => {
    const { clickId } = await click();
    const forged = `${clickId.slice(0, -2)}${clickId.endsWith("AA") ? "BB" : "AA"}`;
    const res = await postback({ click_id: forged, txid: "tx-forged", event: "ftd" });
    expect(res.status).toBe(422);
    const [{ n }] =
      (await env.sql`select count(*)::int as n from postback_receipts where txid = 'tx-forged'`) as unknown as [
        { n: number },
      ];
    expect(n).toBe(0);
  });
});
