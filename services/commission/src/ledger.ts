import { enqueue, subjects } from "@roundtrip/bus";
import {
  type CommissionBooked,
  type ConversionChanged,
  fromMicros,
  roundToCurrency,
  toMicros,
} from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";
import { computePayout, type PayoutRule } from "./payout.ts";

export type Booking = { entryType: "commission" | "reversal" | null; payout: string; currency: string };

const EARNING = new Set(["pending", "approved"]);

/**
 * Settles one conversion change in the ledger (inside the caller's transaction) and tells
 * delivery. Entries are immutable: the first earning status books the commission; a rejection
 * or reversal books a reversing entry for whatever is still booked, so the balance returns to
 * where it started; a change that moves no money books nothing. Changes may arrive in any order.
 */
export async function settle(tx: Tx, c: ConversionChanged): Promise<Booking> {
  await tx`select pg_advisory_xact_lock(hashtextextended(${`ledger:${c.conversion_id}`}, 0))`;
  const entries = await tx<{ type: string; payout: string; currency: string }[]>`
    select type, payout, currency from ledger_entries where conversion_id = ${c.conversion_id}`;
  const booked = entries.reduce((sum, e) => sum + toMicros(e.payout), 0n);
  const hasCommission = entries.some((e) => e.type === "commission");

  let entry: { id: string; type: "commission" | "reversal"; payout: string; currency: string } | null = null;
  let currency = entries[0]?.currency ?? c.currency;
  if (EARNING.has(c.status) && !hasCommission) {
    const rule = await findRule(tx, c);
    const { payout, revenue } = rule ? computePayout(rule, c.amount) : { payout: "0", revenue: "0" };
    currency = rule?.currency ?? c.currency;
    const [row] = await tx<{ id: string }[]>`
      insert into ledger_entries (conversion_id, change_seq, affiliate_id, offer_id, type, payout, revenue, currency, rule_id)
      values (${c.conversion_id}, ${c.seq}, ${c.affiliate_id}, ${c.offer_id}, 'commission', ${payout}, ${revenue},
              ${currency}, ${rule?.id ?? null})
      returning id`;
    entry = { id: (row as { id: string }).id, type: "commission", payout, currency };
  } else if (!EARNING.has(c.status) && hasCommission && booked !== 0n) {
    const [revenue] = await tx<
      { total: string }[]
    >`select coalesce(sum(revenue), 0)::text as total from ledger_entries where conversion_id = ${c.conversion_id}`;
    const payout = fromMicros(-booked);
    const [row] = await tx<{ id: string }[]>`
      insert into ledger_entries (conversion_id, change_seq, affiliate_id, offer_id, type, payout, revenue, currency)
      values (${c.conversion_id}, ${c.seq}, ${c.affiliate_id}, ${c.offer_id}, 'reversal', ${payout},
              ${fromMicros(-toMicros(revenue?.total ?? "0"))}, ${currency})
      returning id`;
    entry = { id: (row as { id: string }).id, type: "reversal", payout, currency };
  }

  const net = booked + (entry ? toMicros(entry.payout) : 0n);
  const event: CommissionBooked = {
    conversion_id: c.conversion_id,
    seq: c.seq,
    entry_id: entry?.id ?? null,
    entry_type: entry?.type ?? null,
    status: c.status,
    affiliate_id: c.affiliate_id,
    offer_id: c.offer_id,
    brand_id: c.brand_id,
    click_id: c.click_id,
    txid: c.txid,
    event: c.event,
    amount: c.amount,
    payout: roundToCurrency(fromMicros(net), currency),
    currency,
    occurred_at: c.occurred_at,
  };
  await enqueue(tx, {
    subject: subjects.commissionBooked(),
    payload: event,
    msgId: `comm:${c.conversion_id}:${c.seq}`,
  });
  return { entryType: entry?.type ?? null, payout: entry?.payout ?? "0", currency };
}

/** The most specific rule wins: this affiliate's rule for the offer and event, else the offer's. */
async function findRule(tx: Tx, c: ConversionChanged): Promise<PayoutRule | undefined> {
  const [rule] = await tx<PayoutRule[]>`
    select id, model, payout::text, revenue::text, currency from payout_rules
    where offer_id = ${c.offer_id} and event = ${c.event} and (affiliate_id = ${c.affiliate_id} or affiliate_id is null)
    order by affiliate_id nulls last, id desc
    limit 1`;
  return rule;
}
