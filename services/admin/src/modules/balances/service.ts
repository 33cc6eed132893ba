import { minorUnits, roundToCurrency } from "@roundtrip/contracts";
import type { Sql, Tx } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import type { AdjustmentCreate } from "./model.ts";

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
  entries: number;
};

/**
 * Balances are derived from the ledger, never stored: per affiliate and currency, the sum of the
 * entries' figures in the affiliate's payout currency, split by whether each entry is payable
 * at `asOf` (its own availability, or its conversion's release after approval).
 */
export async function balances(
  sql: Sql,
  q: { affiliateId?: string | null; currency?: string; asOf: Date },
): Promise<Balance[]> {
  const rows = await sql<(Omit<Balance, "entries"> & { entries: number })[]>`
    select e.affiliate_id, e.affiliate_currency as currency,
      coalesce(sum(e.affiliate_payout) filter (where coalesce(e.available_at, r.available_at) <= ${q.asOf}), 0)::text as available,
      coalesce(sum(e.affiliate_payout) filter (
        where coalesce(e.available_at, r.available_at) is null or coalesce(e.available_at, r.available_at) > ${q.asOf}), 0)::text as pending,
      sum(e.affiliate_payout)::text as total,
      coalesce(sum(e.affiliate_payout) filter (where e.type = 'commission'), 0)::text as commission,
      coalesce(sum(e.affiliate_payout) filter (where e.type = 'reversal'), 0)::text as reversal,
      coalesce(sum(e.affiliate_payout) filter (where e.type = 'adjustment'), 0)::text as adjustment,
      count(*)::int as entries
    from ledger_entries e
    left join ledger_releases r on r.conversion_id = e.conversion_id and r.created_at <= ${q.asOf}
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
    };
  });
}

/**
 * A manual correction: a new entry, never an edit. Payable at once, in the currency given. The
 * amount must fit the currency's minor unit (no rounding behind the operator's back).
 */
export async function adjust(tx: Tx, body: AdjustmentCreate, actor: string) {
  const places = minorUnits(body.currency);
  const decimals = body.amount.split(".")[1]?.length ?? 0;
  if (decimals > places) {
    throw new HttpError(
      400,
      "invalid_request",
      `amount: ${body.currency} has ${places} decimal places`,
      "amount",
    );
  }
  if (Number(body.amount) === 0)
    throw new HttpError(400, "invalid_request", "amount: an adjustment of zero moves nothing", "amount");
  const [affiliate] = await tx`select id from affiliates where id = ${body.affiliate_id}`;
  if (!affiliate) throw new HttpError(400, "invalid_request", "no such affiliate", "affiliate_id");
  if (body.idempotency_key) {
    const [existing] = await tx`select * from ledger_entries where idempotency_key = ${body.idempotency_key}`;
    if (existing) {
      if (
        existing.affiliate_id !== body.affiliate_id ||
        existing.currency !== body.currency ||
        Number(existing.payout) !== Number(body.amount)
      ) {
        throw new HttpError(
          409,
          "idempotency_conflict",
          "this idempotency_key was used for a different adjustment",
          "idempotency_key",
        );
      }
      return { entry: existing, created: false };
    }
  }
  const [entry] = await tx`
    insert into ledger_entries (affiliate_id, type, payout, revenue, currency, affiliate_payout, affiliate_currency, available_at,
                                reason, actor, idempotency_key, calculation)
    values (${body.affiliate_id}, 'adjustment', ${body.amount}, 0, ${body.currency}, ${body.amount}, ${body.currency}, now(),
            ${body.reason}, ${actor}, ${body.idempotency_key ?? null}, ${tx.json({ manual: true, reason: body.reason })})
    on conflict (idempotency_key) do nothing
    returning *`;
  if (!entry) {
    // a concurrent request with the same key won
    const [existing] =
      await tx`select * from ledger_entries where idempotency_key = ${body.idempotency_key ?? ""}`;
    return { entry: existing, created: false };
  }
  return { entry, created: true };
}
