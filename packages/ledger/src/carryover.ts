import { negate, roundToCurrency } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";
import type { Period } from "./cycles.ts";
import { insertEntry } from "./entries.ts";

export type CarryoverMode = "carry" | "reset";

/** A negative period balance and what closing the period books for it. */
export type PlannedCarryover = {
  affiliate_id: string;
  currency: string;
  /** null: the affiliate's own setting; an offer: that offer's override */
  offer_id: string | null;
  mode: CarryoverMode;
  period_net: string;
  /** reset: +net (written off); carry: +net out of this period, −net into the next */
  entries: { reason: "reset" | "carried_out" | "carried_in"; amount: string; at: Date }[];
};

/** The entries that make up a period's earnings (what is paid out or carried is not earned). */
const EARNED = ["commission", "reversal", "adjustment", "sub_commission", "sub_reversal"];

/**
 * Closing a period: per currency and scope (the affiliate's setting, or an offer's override), the
 * period's net — entries created in it, plus what was carried into it — is looked at; a negative
 * one is reset to zero (`reset`: one entry writing it off) or carried into the next period
 * (`carry`: out of this one, into the next, so each statement shows it and the balance keeps
 * it, to be netted off by later earnings). Positive nets move nothing; nor does closing a period twice.
 */
export async function planCarryover(
  tx: Tx,
  affiliateId: string,
  period: Period,
  defaultMode: CarryoverMode,
): Promise<PlannedCarryover[]> {
  const rows = await tx<
    { currency: string; offer_id: string | null; mode: CarryoverMode | null; net: string }[]
  >`
    select e.affiliate_currency as currency, case when o.offer_id is not null then e.offer_id end as offer_id,
           o.negative_carryover as mode, sum(e.affiliate_payout)::text as net
    from ledger_entries e
    left join affiliate_offer_carryover o on o.affiliate_id = e.affiliate_id and o.offer_id = e.offer_id
    where e.affiliate_id = ${affiliateId}
      and ((e.type in ${tx(EARNED)} and e.created_at >= ${period.start} and e.created_at < ${period.end})
        or (e.type = 'carryover' and e.reason = 'carried_in' and e.occurred_at = ${period.start})
        -- a period closed already: what closing booked nets its negative to zero
        or (e.type = 'carryover' and e.reason in ('reset', 'carried_out') and e.occurred_at = ${period.end}))
    group by 1, 2, 3
    having sum(e.affiliate_payout) < 0
    order by 1, 2 nulls first`;
  return rows.map((r) => {
    const mode = r.mode ?? defaultMode;
    const net = roundToCurrency(r.net, r.currency);
    const back = roundToCurrency(negate(r.net), r.currency);
    return {
      affiliate_id: affiliateId,
      currency: r.currency,
      offer_id: r.offer_id,
      mode,
      period_net: net,
      entries:
        mode === "reset"
          ? [{ reason: "reset" as const, amount: back, at: period.end }]
          : [
              { reason: "carried_out" as const, amount: back, at: period.end },
              { reason: "carried_in" as const, amount: net, at: period.end },
            ],
    };
  });
}

/** Books a planned carryover, once per (affiliate, currency, scope, period, reason). */
export async function bookCarryover(
  tx: Tx,
  c: PlannedCarryover,
  period: Period,
  actor: string,
): Promise<void> {
  for (const e of c.entries) {
    await insertEntry(
      tx,
      {
        type: "carryover",
        affiliate_id: c.affiliate_id,
        offer_id: c.offer_id,
        payout: e.amount,
        revenue: "0",
        currency: c.currency,
        // both sides of a carry sit at the boundary: out of the closing period, into the next
        occurred_at: e.at,
        availability: { at: e.at },
        affiliate_payout: e.amount,
        affiliate_currency: c.currency,
        reason: e.reason,
        actor,
        idempotency_key: `carryover:${c.affiliate_id}:${c.currency}:${c.offer_id ?? "all"}:${period.end.toISOString()}:${e.reason}`,
        calculation: {
          carryover: {
            mode: c.mode,
            period_net: c.period_net,
            period: { start: period.start, end: period.end },
          },
        },
      },
      tx`id`,
      { onConflictIdempotencyKey: true },
    );
  }
}
