import { negate } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";
import { insertEntry } from "./entries.ts";
import { percentOf } from "./percent.ts";
import { roundToCurrency } from "@roundtrip/contracts";

/** The child's entry a share follows: one just booked for a conversion (tier 1). */
export type ShareSource = {
  id: string;
  type: "commission" | "adjustment" | "reversal";
  conversion_id: string;
  change_seq: number;
  affiliate_id: string;
  offer_id: string;
  brand_id: string;
  affiliate_payout: string;
  affiliate_currency: string;
  available_at: Date | null;
  occurred_at: Date | null;
};

type Ancestor = { affiliate_id: string; tier: 2 | 3; percent: string };

/**
 * Who shares in an affiliate's commission: its parent at the parent's `sub_share_percent` (tier
 * 2) and the parent's parent at its `sub_tier3_percent` (tier 3), as configured now.
 */
async function ancestorsOf(tx: Tx, affiliateId: string): Promise<Ancestor[]> {
  const [row] = await tx<{ parent: string | null; p2: string; grandparent: string | null; p3: string }[]>`
    select c.parent_affiliate_id as parent, coalesce(ps.sub_share_percent, 0)::text as p2,
           ps.parent_affiliate_id as grandparent, coalesce(gs.sub_tier3_percent, 0)::text as p3
    from affiliate_payout_settings c
    left join affiliate_payout_settings ps on ps.affiliate_id = c.parent_affiliate_id
    left join affiliate_payout_settings gs on gs.affiliate_id = ps.parent_affiliate_id
    where c.affiliate_id = ${affiliateId}`;
  const out: Ancestor[] = [];
  if (row?.parent && Number(row.p2) > 0) out.push({ affiliate_id: row.parent, tier: 2, percent: row.p2 });
  if (row?.grandparent && row.grandparent !== affiliateId && Number(row.p3) > 0)
    out.push({ affiliate_id: row.grandparent, tier: 3, percent: row.p3 });
  return out;
}

/**
 * Books the sub-affiliate shares of an entry just booked for a child, in the caller's
 * transaction (so they commit, or not, with it — exactly once with the source). A commission or
 * repricing adjustment pays each ancestor its percentage, in the child's currency and bucket
 * (held or payable with the source); a reversal negates every share still booked for the
 * conversion, whoever holds it, so the parents' balances return exactly where they started.
 */
export async function bookSubAffiliateShares(tx: Tx, source: ShareSource): Promise<number> {
  const common = {
    conversion_id: source.conversion_id,
    change_seq: source.change_seq,
    offer_id: source.offer_id,
    brand_id: source.brand_id,
    revenue: "0",
    occurred_at: source.occurred_at,
    source_entry_id: source.id,
    availability: { notBefore: source.available_at },
  };
  if (source.type === "reversal") {
    const held = await tx<
      { affiliate_id: string; tier: 2 | 3; currency: string; net: string; first: string }[]
    >`
      select affiliate_id, tier, affiliate_currency as currency, sum(affiliate_payout)::text as net,
             min(id) filter (where type = 'sub_commission')::text as first
      from ledger_entries
      where conversion_id = ${source.conversion_id} and tier > 1
      group by affiliate_id, tier, affiliate_currency
      having sum(affiliate_payout) <> 0`;
    for (const h of held) {
      const amount = roundToCurrency(negate(h.net), h.currency);
      await insertEntry(tx, {
        ...common,
        type: "sub_reversal",
        tier: h.tier,
        affiliate_id: h.affiliate_id,
        payout: amount,
        currency: h.currency,
        affiliate_payout: amount,
        affiliate_currency: h.currency,
        reverses_entry_id: h.first,
        reason: "source reversed",
        calculation: {
          sub_affiliate: {
            tier: h.tier,
            child: source.affiliate_id,
            reverses_shares_of: source.conversion_id,
          },
        },
      });
    }
    return held.length;
  }
  let booked = 0;
  for (const a of await ancestorsOf(tx, source.affiliate_id)) {
    const amount = percentOf(source.affiliate_payout, a.percent, source.affiliate_currency);
    if (Number(amount) === 0) continue;
    await insertEntry(tx, {
      ...common,
      type: "sub_commission",
      tier: a.tier,
      affiliate_id: a.affiliate_id,
      payout: amount,
      currency: source.affiliate_currency,
      affiliate_payout: amount,
      affiliate_currency: source.affiliate_currency,
      calculation: {
        sub_affiliate: {
          tier: a.tier,
          child: source.affiliate_id,
          percent: a.percent,
          of: { entry: source.id, type: source.type, amount: source.affiliate_payout },
        },
        rounding: "half away from zero to the currency's minor unit, once",
      },
    });
    booked++;
  }
  return booked;
}
