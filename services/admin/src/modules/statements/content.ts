import { fromMicros, maskAccountReference, roundToCurrency, toMicros } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import { percentOf } from "@roundtrip/ledger";
import { HttpError } from "@roundtrip/service";

export type StatementLine = {
  offer_id: string | null;
  offer: string;
  event: string;
  type: string;
  count: number;
  amount: string;
};
export type CurrencySection = {
  currency: string;
  lines: StatementLine[];
  adjustments: { id: string; created_at: Date; reason: string | null; amount: string }[];
  sub_affiliate: string;
  carryover: { reason: string; amount: string }[];
  earned: string;
  vat: { rate: string; amount: string; gross: string } | null;
  payouts: { line_id: string; amount: string; status: string; method: string }[];
};
export type Statement = {
  id: string;
  affiliate_id: string;
  affiliate_name: string;
  period_start: Date;
  period_end: Date;
  /** the affiliate's cycle zone: the period's dates are shown as local days there */
  time_zone: string;
  run_id: string | null;
  created_at: Date;
  payment: {
    method: string;
    account_reference_masked: string | null;
    vat_number: string | null;
    vat_rate: string | null;
  } | null;
  currencies: CurrencySection[];
};

const money = (v: string, currency: string) => roundToCurrency(v, currency);
const sum = (values: string[], currency: string) =>
  roundToCurrency(fromMicros(values.reduce((s, v) => s + toMicros(v), 0n)), currency);

/**
 * A statement's content, derived from the (immutable) ledger every time it is read, so the HTML
 * page, the PDF and the JSON always agree: the period's entries by offer and event, manual
 * adjustments, sub-affiliate shares, the carryover that closed (or opened) the period, what was
 * earned per currency (with VAT when the affiliate has a rate), and the run's payout lines.
 */
export async function statementContent(
  sql: Sql,
  id: string,
  affiliateScope: string | null,
): Promise<Statement> {
  const [s] = await sql<Omit<Statement, "payment" | "currencies">[]>`
    select s.id::text, s.affiliate_id::text, a.name as affiliate_name, s.period_start, s.period_end,
           coalesce(ps.time_zone, 'UTC') as time_zone, s.run_id::text, s.created_at
    from statements s join affiliates a on a.id = s.affiliate_id
    left join affiliate_payout_settings ps on ps.affiliate_id = s.affiliate_id
    where s.id = ${id} ${affiliateScope ? sql`and s.affiliate_id = ${affiliateScope}` : sql``}`;
  if (!s) throw new HttpError(404, "not_found", "no such statement");
  const [details] = await sql<
    { method: string; account_reference: string; vat_number: string | null; vat_rate: string | null }[]
  >`
    select method, account_reference, vat_number, vat_rate::text from affiliate_payment_details where affiliate_id = ${s.affiliate_id}`;
  const entries = await sql<
    {
      id: string;
      type: string;
      tier: number;
      offer_id: string | null;
      offer: string | null;
      event: string | null;
      reason: string | null;
      conversion_id: string | null;
      currency: string;
      amount: string;
      created_at: Date;
    }[]
  >`
    select e.id::text, e.type, e.tier, e.offer_id::text, o.name as offer, c.event, e.reason, e.conversion_id::text,
           e.affiliate_currency::text as currency, e.affiliate_payout::text as amount, e.created_at
    from ledger_entries e
    left join offers o on o.id = e.offer_id
    left join conversions c on c.id = e.conversion_id
    where e.affiliate_id = ${s.affiliate_id}
      and ((e.type not in ('payout', 'payout_return', 'carryover') and e.created_at >= ${s.period_start} and e.created_at < ${s.period_end})
        or (e.type = 'carryover' and e.reason in ('reset', 'carried_out') and e.occurred_at = ${s.period_end})
        or (e.type = 'carryover' and e.reason = 'carried_in' and e.occurred_at = ${s.period_start}))
    order by e.id`;
  const payouts = s.run_id
    ? await sql<{ line_id: string; currency: string; amount: string; status: string; method: string }[]>`
        select id::text as line_id, currency::text, amount::text, status, method from payout_lines
        where run_id = ${s.run_id} and affiliate_id = ${s.affiliate_id} order by id`
    : [];
  const currencies = [
    ...new Set([...entries.map((e) => e.currency), ...payouts.map((p) => p.currency)]),
  ].sort();
  return {
    ...s,
    payment: details
      ? {
          method: details.method,
          account_reference_masked: maskAccountReference(details.account_reference),
          vat_number: details.vat_number,
          vat_rate: details.vat_rate,
        }
      : null,
    currencies: currencies.map((currency) => {
      const mine = entries.filter((e) => e.currency === currency);
      const byOffer = new Map<string, StatementLine>();
      for (const e of mine.filter((x) => x.conversion_id && x.tier === 1)) {
        const key = `${e.offer_id}|${e.event}|${e.type}`;
        const line = byOffer.get(key) ?? {
          offer_id: e.offer_id,
          offer: e.offer ?? `offer ${e.offer_id}`,
          event: e.event ?? "",
          type: e.type,
          count: 0,
          amount: money("0", currency),
        };
        byOffer.set(key, { ...line, count: line.count + 1, amount: sum([line.amount, e.amount], currency) });
      }
      const adjustments = mine
        .filter((e) => e.type === "adjustment" && !e.conversion_id)
        .map((e) => ({
          id: e.id,
          created_at: e.created_at,
          reason: e.reason,
          amount: money(e.amount, currency),
        }));
      const carryover = mine
        .filter((e) => e.type === "carryover")
        .map((e) => ({ reason: e.reason ?? "", amount: money(e.amount, currency) }));
      const earned = sum(
        mine.map((e) => e.amount),
        currency,
      );
      const rate = details?.vat_rate ?? null;
      const vatAmount = rate && toMicros(earned) > 0n ? percentOf(earned, rate, currency) : null;
      return {
        currency,
        lines: [...byOffer.values()],
        adjustments,
        sub_affiliate: sum(
          mine.filter((e) => e.tier > 1).map((e) => e.amount),
          currency,
        ),
        carryover,
        earned,
        vat:
          rate && vatAmount ? { rate, amount: vatAmount, gross: sum([earned, vatAmount], currency) } : null,
        payouts: payouts
          .filter((p) => p.currency === currency)
          .map((p) => ({
            line_id: p.line_id,
            amount: money(p.amount, currency),
            status: p.status,
            method: p.method,
          })),
      };
    }),
  };
}
