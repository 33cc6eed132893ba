import type { Tx } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import type { PayoutRuleCreate } from "./model.ts";

const bad = (field: string, message: string) => new HttpError(400, "invalid_request", message, field);
const nonZero = (v: string | undefined) => v !== undefined && Number(v) !== 0;

/**
 * The terms a rule may carry follow its model: CPA pays a fixed amount only, RevShare a
 * percentage only, hybrid both. Tiers start at increasing counts and use the model's terms.
 */
export function checkTerms(body: PayoutRuleCreate): void {
  if (body.model === "cpa" && nonZero(body.payout_percent))
    throw bad("payout_percent", "a cpa rule pays a fixed payout only");
  if (body.model === "revshare" && nonZero(body.payout))
    throw bad("payout", "a revshare rule pays payout_percent only");
  if (body.model !== "cpa" && body.payout_percent === undefined)
    throw bad("payout_percent", `a ${body.model} rule needs payout_percent`);
  if (body.model !== "revshare" && body.payout === undefined)
    throw bad("payout", `a ${body.model} rule needs payout`);
  let last = 1;
  (body.tiers ?? []).forEach((tier, i) => {
    if (tier.from <= last) throw bad(`tiers.${i}.from`, "tiers must start at increasing counts, from 2 on");
    last = tier.from;
    if (body.model === "cpa" && nonZero(tier.payout_percent))
      throw bad(`tiers.${i}.payout_percent`, "a cpa tier pays a fixed payout only");
    if (body.model === "revshare" && nonZero(tier.payout))
      throw bad(`tiers.${i}.payout`, "a revshare tier pays payout_percent only");
  });
  const { advertiser_payout_min: min, advertiser_payout_max: max } = body;
  if (min !== undefined && max !== undefined && Number(min) > Number(max)) {
    throw bad("advertiser_payout_min", "advertiser_payout_min is above advertiser_payout_max");
  }
  if ((min !== undefined || max !== undefined) && body.advertiser_payout !== "accept") {
    throw bad("advertiser_payout", "bounds only apply when advertiser_payout is accept");
  }
}

export async function createRule(tx: Tx, body: PayoutRuleCreate) {
  checkTerms(body);
  const [event] =
    await tx`select 1 from offer_events where offer_id = ${body.offer_id} and code = ${body.event}`;
  if (!event) throw bad("event", `the offer has no event ${body.event}`);
  if (body.affiliate_id) {
    const [affiliate] = await tx`select 1 from affiliates where id = ${body.affiliate_id}`;
    if (!affiliate) throw bad("affiliate_id", "no such affiliate");
  }
  const tiers = (body.tiers ?? []).map((t) => ({
    from: t.from,
    payout: t.payout ?? "0",
    payout_percent: t.payout_percent ?? "0",
  }));
  const [created] = await tx`
    insert into payout_rules (offer_id, event, affiliate_id, model, payout, payout_percent, revenue, revenue_percent, currency,
                              tiers, tier_period, cap_daily, cap_monthly, cap_scope, cap_action, advertiser_payout,
                              advertiser_payout_min, advertiser_payout_max, hold_days)
    values (${body.offer_id}, ${body.event}, ${body.affiliate_id ?? null}, ${body.model}, ${body.payout ?? "0"},
            ${body.payout_percent ?? "0"}, ${body.revenue ?? "0"}, ${body.revenue_percent ?? "0"}, ${body.currency},
            ${tx.json(tiers)}, ${body.tier_period ?? "month"}, ${body.cap_daily ?? null}, ${body.cap_monthly ?? null},
            ${body.cap_scope ?? "affiliate"}, ${body.cap_action ?? "zero"}, ${body.advertiser_payout ?? "ignore"},
            ${body.advertiser_payout_min ?? null}, ${body.advertiser_payout_max ?? null}, ${body.hold_days ?? 0})
    returning *`;
  if (!created) throw new Error("insert returned nothing");
  return created;
}
