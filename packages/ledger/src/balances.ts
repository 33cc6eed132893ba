import { roundToCurrency } from "@roundtrip/contracts";
import type { Sql, Tx } from "@roundtrip/db";
import type postgres from "postgres";

/** An instant: a value, or a column of the query (each affiliate's own cut-off in a payout plan). */
export type AsOf = Date | postgres.PendingQuery<postgres.Row[]>;

export type Balance = {
  affiliate_id: string;
  currency: string;
  /** payable now: released and past its hold */
  available: string;
  /** held: pending approval, or inside the hold period */
  pending: string;
  total: string;
  commission: string;
  reversal: string;
  adjustment: string;
  /** shares of sub-affiliates' commission (tiers 2 and 3), net of their reversals */
  sub_affiliate: string;
  /** paid out (negative), net of failed lines returned */
  paid: string;
  carryover: string;
  entries: number;
};

/**
 * The one rule for when an entry is payable: its own `available_at`, or — for a commission held
 * until approval — its conversion's release, whichever is set, at or before `asOf`. `e` is the
 * entry, `r` its conversion's ledger_releases row (joined as of `asOf`).
 */
export const payableAt = (sql: Sql | Tx, asOf: AsOf) =>
  sql`coalesce(e.available_at, r.available_at) <= ${asOf}`;

/** ledger_entries `e` with its conversion's release `r` as known at `asOf`. */
export const entriesAsOf = (sql: Sql | Tx, asOf: AsOf) => sql`
  ledger_entries e
  left join ledger_releases r on r.conversion_id = e.conversion_id and r.created_at <= ${asOf}`;

/**
 * Balances are derived from the ledger, never stored: per affiliate and currency, the sum of the
 * entries' figures in the affiliate's payout currency, split by whether each entry is payable
 * at `asOf` (its own availability, or its conversion's release after approval).
 */
export async function balances(
  sql: Sql | Tx,
  q: { affiliateId?: string | null; currency?: string; asOf: Date },
): Promise<Balance[]> {
  const rows = await sql<Balance[]>`
    select e.affiliate_id, e.affiliate_currency as currency,
      coalesce(sum(e.affiliate_payout) filter (where ${payableAt(sql, q.asOf)}), 0)::text as available,
      coalesce(sum(e.affiliate_payout) filter (where not coalesce(${payableAt(sql, q.asOf)}, false)), 0)::text as pending,
      sum(e.affiliate_payout)::text as total,
      coalesce(sum(e.affiliate_payout) filter (where e.type = 'commission'), 0)::text as commission,
      coalesce(sum(e.affiliate_payout) filter (where e.type = 'reversal'), 0)::text as reversal,
      coalesce(sum(e.affiliate_payout) filter (where e.type = 'adjustment'), 0)::text as adjustment,
      coalesce(sum(e.affiliate_payout) filter (where e.type in ('sub_commission', 'sub_reversal')), 0)::text as sub_affiliate,
      coalesce(sum(e.affiliate_payout) filter (where e.type in ('payout', 'payout_return')), 0)::text as paid,
      coalesce(sum(e.affiliate_payout) filter (where e.type = 'carryover'), 0)::text as carryover,
      count(*)::int as entries
    from ${entriesAsOf(sql, q.asOf)}
    where e.created_at <= ${q.asOf}
      ${q.affiliateId ? sql`and e.affiliate_id = ${q.affiliateId}` : sql``}
      ${q.currency ? sql`and e.affiliate_currency = ${q.currency}` : sql``}
    group by e.affiliate_id, e.affiliate_currency
    order by e.affiliate_id, e.affiliate_currency
    limit 10000`;
  return rows.map((r) => {
    const money = (v: string) => roundToCurrency(v, r.currency);
    return {
      ...r,
      available: money(r.available),
      pending: money(r.pending),
      total: money(r.total),
      commission: money(r.commission),
      reversal: money(r.reversal),
      adjustment: money(r.adjustment),
      sub_affiliate: money(r.sub_affiliate),
      paid: money(r.paid),
      carryover: money(r.carryover),
    };
  });
}
