/**
 * The operator test tool: fires a test postback for an offer's advertiser through the real
 * gateway (as the advertiser would, with its token) and reads each decision back from the trace.
 * Without a click ID it mints one for the tool's own link on the offer — a link of a test
 * affiliate (`is_test`, so reports and payouts skip it), created on first use — so no visitor
 * or real affiliate is involved; with one (e.g. from a click the operator made) it follows that
 * click's real journey, affiliate postback included.
 */
import type { Bus } from "@roundtrip/bus";
import type { ClickIdCodec } from "@roundtrip/clickid";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { announce, audit } from "../../changes.ts";
import { randomToken } from "../../tokens.ts";
import { buildTrace } from "../trace/index.ts";
import { decisionSteps } from "./steps.ts";

export const TOOL_AFFILIATE = "Operator test postbacks";
const REQUEST_TIMEOUT_MS = 10_000;

export type FireInput = {
  offer_id: string;
  token: string;
  event: string;
  amount?: string;
  currency?: string;
  status?: string;
  click_id?: string;
};

/** The tool's test affiliate and its link on the offer, created once (one at a time: an advisory lock). */
async function toolLink(
  sql: Sql,
  bus: Bus,
  offerId: string,
  who: string,
): Promise<{ id: string; code: string }> {
  const { link, created } = await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('roundtrip:test-postbacks'))`;
    const [offer] = await tx<{ currency: string }[]>`select currency from offers where id = ${offerId}`;
    if (!offer) throw new HttpError(400, "invalid_request", "offer_id: no such offer", "offer_id");
    let [affiliate] = await tx<{ id: string }[]>`
      select id from affiliates where name = ${TOOL_AFFILIATE} and is_test order by id limit 1`;
    if (!affiliate) {
      [affiliate] = await tx<{ id: string }[]>`
        insert into affiliates (name, payout_currency, is_test) values (${TOOL_AFFILIATE}, ${offer.currency.trim()}, true)
        returning id`;
      await audit(tx, {
        actor: who,
        action: "create",
        resource: "affiliates",
        id: affiliate?.id ?? null,
        after: { name: TOOL_AFFILIATE, is_test: true },
      });
    }
    const affiliateId = affiliate?.id as string;
    const [existing] = await tx<{ id: string; code: string }[]>`
      select id, code from links where offer_id = ${offerId} and affiliate_id = ${affiliateId} order by id limit 1`;
    if (existing) return { link: existing, created: false };
    const [made] = await tx<{ id: string; code: string }[]>`
      insert into links (code, offer_id, affiliate_id) values (${`tp-${offerId}-${randomToken(4)}`}, ${offerId}, ${affiliateId})
      returning id, code`;
    await audit(tx, { actor: who, action: "create", resource: "links", id: made?.id ?? null, after: made });
    return { link: made as { id: string; code: string }, created: true };
  });
  if (created) await announce(bus, "links", link.id);
  return link;
}

export async function fireTestPostback(
  deps: { sql: Sql; bus: Bus; codec: ClickIdCodec | null; gatewayUrl: string },
  input: FireInput,
  who: string,
) {
  const { sql } = deps;
  const [offer] = await sql<
    { advertiser_id: string }[]
  >`select advertiser_id from offers where id = ${input.offer_id}`;
  if (!offer) throw new HttpError(400, "invalid_request", "offer_id: no such offer", "offer_id");
  let clickId = input.click_id;
  if (!clickId) {
    if (!deps.codec)
      throw new HttpError(
        409,
        "no_click_id_keys",
        "click_id: admin has no CLICK_ID_KEYS to mint one; give a click_id",
        "click_id",
      );
    const link = await toolLink(sql, deps.bus, input.offer_id, who);
    clickId = deps.codec.mint(Number(link.id), new Date());
  }
  const txid = `test-${randomToken(9)}`;
  const params = new URLSearchParams({ click_id: clickId, txid, event: input.event, token: input.token });
  for (const key of ["amount", "currency", "status"] as const) {
    const value = input[key];
    if (value) params.set(key, value);
  }
  // A gateway that does not answer is a finding of the test, shown as such (not an error of admin's).
  let gateway: { status: number | null; body: unknown; error: string | null };
  try {
    const res = await fetch(`${deps.gatewayUrl}/postback?${params}`, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: shown as text
    }
    gateway = { status: res.status, body, error: null };
  } catch (err) {
    gateway = { status: null, body: null, error: `the gateway did not answer: ${(err as Error).message}` };
  }
  await sql.begin((tx) =>
    audit(tx, {
      actor: who,
      action: "test-postback",
      resource: "advertisers",
      id: offer.advertiser_id,
      after: {
        offer_id: input.offer_id,
        click_id: clickId,
        txid,
        event: input.event,
        gateway_status: gateway.status,
      },
    }),
  );
  return { advertiser_id: offer.advertiser_id, offer_id: input.offer_id, click_id: clickId, txid, gateway };
}

/** Where the test postback is now: each decision so far, from the trace. */
export async function testPostbackSteps(
  sql: Sql,
  codec: ClickIdCodec | null,
  q: { advertiser_id: string; txid: string; click_id: string },
) {
  const trace = await buildTrace(sql, codec, q);
  const receipt = trace.receipts.find((r) => r.txid === q.txid);
  const conversion = (trace.conversions as Record<string, unknown>[]).find(
    (c) => c.id === receipt?.conversion_id,
  );
  let hasTemplate: boolean | null = null;
  if (conversion) {
    const [t] = await sql`
      select 1 from affiliate_postbacks where affiliate_id = ${String(conversion.affiliate_id)} and status = 'active' limit 1`;
    hasTemplate = Boolean(t);
  }
  return { ...decisionSteps(trace, q.txid, hasTemplate), trace };
}
