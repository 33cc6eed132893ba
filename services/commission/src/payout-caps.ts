import type { ConversionChanged } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";
import { add, isZero, mul, ratio, toCurrency, ZERO } from "./decimal.ts";
import { rateAt } from "./fx.ts";

/**
 * An offer's payout caps (`offers.payout_cap_daily`/`payout_cap_monthly`, in the offer's currency)
 * are traffic caps: once what the offer paid its affiliates in the brand's day or month reaches
 * one, the click service sends the offer's traffic to its fallback (services/click/src/click-caps.ts
 * reads `offer_payout_usage`). Conversions from earlier clicks still book in full.
 *
 * Every tier-1 entry of a conversion (commission, adjustment, reversal) moves its period's
 * counters, in the transaction that writes it, so the click that follows a filling booking sees
 * it. Only offers with a payout cap are counted: a counter row per offer queues each booking of
 * the offer behind the one before. So a period's first count starts from the ledger, and admin
 * drops an offer's counters when it sets a payout cap on an offer without one, under the
 * exclusive form of this lock (services/admin/src/modules/offers): a booking either counts after
 * the cap is set or commits before the counters are dropped — and is then in the ledger the next
 * first count reads.
 */
export const payoutCapLock = (offerId: string) => `payout-cap:${offerId}`;

type Period = "day" | "month";

/**
 * Counts an entry just written. The caller holds `payoutCapLock` shared since before it read
 * whether the offer has a payout cap (settleBatch takes it for the batch's offers at once).
 */
export async function countPayout(
  tx: Tx,
  c: ConversionChanged,
  entry: { payout: string; currency: string },
): Promise<void> {
  const [offer] = await tx<{ currency: string; day: string; month: string }[]>`
    select o.currency, b.period_day::text as day, b.period_month::text as month
    from offers o join commission_bookings b on b.conversion_id = ${c.conversion_id}
    where o.id = ${c.offer_id} and (o.payout_cap_daily is not null or o.payout_cap_monthly is not null)`;
  if (!offer) return;
  const payout = ratio(entry.payout);
  // Zero moves nothing, and needs no FX rate.
  const amount = isZero(payout)
    ? toCurrency(ZERO, offer.currency)
    : toCurrency(
        mul(payout, (await rateAt(tx, entry.currency, offer.currency, new Date(c.occurred_at))).value),
        offer.currency,
      );
  for (const [period, start] of [
    ["day", offer.day],
    ["month", offer.month],
  ] as const) {
    const [counted] = await tx`
      update offer_payout_usage set payout = payout + ${amount}
      where offer_id = ${c.offer_id} and period = ${period} and period_start = ${start}
      returning 1`;
    if (counted) continue;
    // The period's first count: everything the ledger holds for it, this entry included. Another
    // replica's first count may commit meanwhile (then only this entry is added to it).
    const booked = await bookedIn(tx, c.offer_id, period, start, offer.currency);
    await tx`
      insert into offer_payout_usage (offer_id, period, period_start, payout)
      values (${c.offer_id}, ${period}, ${start}, ${booked})
      on conflict (offer_id, period, period_start) do update set payout = offer_payout_usage.payout + ${amount}`;
  }
}

/** The offer's tier-1 payout in a period of its conversions' event time, in the offer's currency. */
async function bookedIn(tx: Tx, offerId: string, period: Period, start: string, currency: string) {
  const rows = await tx<{ currency: string; at: Date | null; payout: string }[]>`
    select e.currency, case when e.currency = ${currency} then null else e.occurred_at end as at,
           sum(e.payout)::text as payout
    from commission_bookings b join ledger_entries e on e.conversion_id = b.conversion_id and e.tier = 1
    where b.offer_id = ${offerId}
      and ${period === "day" ? tx`b.period_day = ${start}` : tx`b.period_month = ${start}`}
    group by 1, 2`;
  let total = ZERO;
  for (const r of rows) {
    const value = ratio(r.payout);
    // Entries in another currency at the rate of their event time, rounded once per event time.
    total = add(
      total,
      ratio(
        toCurrency(
          r.at && !isZero(value) ? mul(value, (await rateAt(tx, r.currency, currency, r.at)).value) : value,
          currency,
        ),
      ),
    );
  }
  return toCurrency(total, currency);
}
