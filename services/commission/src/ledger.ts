import { enqueue, subjects } from "@roundtrip/bus";
import type { CommissionBooked, ConversionChanged } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";
import { add, isZero, mul, neg, type Ratio, ratio, toCurrency, ZERO } from "./decimal.ts";
import { type FxRate, rateAt } from "./fx.ts";
import { type Counts, type PayoutRule, type Pricing, price } from "./payout.ts";

export type EntryType = "commission" | "reversal";
export type BookedEntry = { id: string; type: EntryType; payout: string; revenue: string; currency: string };
export type BookingOutcome = "booked" | "capped_zero" | "capped_rejected" | "no_rule";

export type Settlement = {
  /** What this change did: priced, released a hold, reversed, nothing (or stale / a repeat). */
  outcome: BookingOutcome | "released" | "reversed" | "none" | "stale" | "duplicate" | "test";
  entry: BookedEntry | null;
};

const EARNING = new Set(["pending", "approved"]);

type EntryRow = {
  id: string;
  type: "commission" | "reversal" | "adjustment";
  payout: string;
  revenue: string;
  currency: string;
  affiliate_payout: string;
  affiliate_currency: string;
  reporting_payout: string | null;
  reporting_revenue: string | null;
  reporting_currency: string | null;
  available_at: Date | null;
};

type BookingRow = { outcome: BookingOutcome; hold_days: number; affiliate_currency: string };

/**
 * Settles one conversion change in the ledger, inside the caller's transaction, and tells
 * delivery. Entries are immutable:
 * - the first earning status (pending or approved) prices the conversion and books the
 *   commission — held until approval when pending, payable after the rule's hold days when
 *   approved;
 * - pending → approved releases the hold (a ledger_releases row, no new money);
 * - rejected or reversed books one reversing entry for whatever is still booked, at the very
 *   figures and rates of the original, so the balance returns exactly to where it started;
 * - a change older than one already settled (out-of-order delivery) is stale and moves nothing;
 * - the same change twice (a replayed message) is a no-op, by its (conversion, seq) key.
 */
export async function settle(tx: Tx, c: ConversionChanged): Promise<Settlement> {
  await tx`select pg_advisory_xact_lock(hashtextextended(${`ledger:${c.conversion_id}`}, 0))`;
  const [seen] = await tx<{ later: boolean; same: boolean }[]>`
    select bool_or(change_seq > ${c.seq}) as later, bool_or(change_seq = ${c.seq}) as same
    from commission_changes where conversion_id = ${c.conversion_id}`;
  if (seen?.same) return { outcome: "duplicate", entry: null };
  if (seen?.later) {
    await record(tx, c, "stale", null);
    return { outcome: "stale", entry: null };
  }
  // Launch-validation traffic (a test affiliate's conversions) proves the pipeline but moves no
  // money: recorded, never priced, and nothing is sent on to delivery.
  const [conversion] = await tx<
    { is_test: boolean }[]
  >`select is_test from conversions where id = ${c.conversion_id}`;
  if (conversion?.is_test) {
    await record(tx, c, "test", null);
    return { outcome: "test", entry: null };
  }

  const entries = await tx<EntryRow[]>`
    select id, type, payout::text, revenue::text, currency, affiliate_payout::text, affiliate_currency,
           reporting_payout::text, reporting_revenue::text, reporting_currency, available_at
    from ledger_entries where conversion_id = ${c.conversion_id} order by id`;
  let [booking] = await tx<BookingRow[]>`
    select outcome, hold_days, affiliate_currency from commission_bookings where conversion_id = ${c.conversion_id}`;

  let outcome: Settlement["outcome"] = "none";
  let entry: BookedEntry | null = null;
  if (EARNING.has(c.status) && !booking) {
    const priced = await book(tx, c);
    booking = priced.booking;
    outcome = priced.booking.outcome;
    entry = priced.entry;
    if (entry) entries.push(priced.row as EntryRow);
  } else if (
    c.status === "approved" &&
    booking &&
    entries.some((e) => e.type === "commission" && e.available_at === null)
  ) {
    const released = await tx`
      insert into ledger_releases (conversion_id, change_seq, available_at)
      values (${c.conversion_id}, ${c.seq}, now() + make_interval(days => ${booking.hold_days}))
      on conflict (conversion_id) do nothing
      returning 1`;
    if (released.length) outcome = "released";
  } else if (!EARNING.has(c.status) && entries.length) {
    const reversal = await reverse(tx, c, entries);
    if (reversal) {
      outcome = "reversed";
      entry = reversal.entry;
      entries.push(reversal.row);
    }
  }
  await record(tx, c, outcome, entry?.id ?? null);

  const affiliateCurrency = booking?.affiliate_currency ?? (await affiliateCurrencyOf(tx, c.affiliate_id));
  const net = entries
    .filter((e) => e.affiliate_currency === affiliateCurrency)
    .reduce((sum, e) => add(sum, ratio(e.affiliate_payout)), ZERO);
  const rejectedByCap = booking?.outcome === "capped_rejected";
  const event: CommissionBooked = {
    conversion_id: c.conversion_id,
    seq: c.seq,
    entry_id: entry?.id ?? null,
    entry_type: entry?.type ?? null,
    // A conversion over a cap that rejects is rejected for the affiliate, whatever its status.
    status: rejectedByCap && EARNING.has(c.status) ? "rejected" : c.status,
    affiliate_id: c.affiliate_id,
    offer_id: c.offer_id,
    brand_id: c.brand_id,
    click_id: c.click_id,
    txid: c.txid,
    event: c.event,
    amount: c.amount,
    payout: toCurrency(net, affiliateCurrency),
    currency: affiliateCurrency,
    occurred_at: c.occurred_at,
    ...(rejectedByCap ? { reason: "cap" } : {}),
  };
  await enqueue(tx, {
    subject: subjects.commissionBooked(),
    payload: event,
    msgId: `comm:${c.conversion_id}:${c.seq}`,
  });
  return { outcome, entry };
}

async function record(tx: Tx, c: ConversionChanged, outcome: string, entryId: string | null): Promise<void> {
  await tx`
    insert into commission_changes (conversion_id, change_seq, status, outcome, entry_id)
    values (${c.conversion_id}, ${c.seq}, ${c.status}, ${outcome}, ${entryId})`;
}

async function affiliateCurrencyOf(tx: Tx, affiliateId: string): Promise<string> {
  const [row] = await tx<
    { payout_currency: string }[]
  >`select payout_currency from affiliates where id = ${affiliateId}`;
  return row?.payout_currency ?? "EUR";
}

type Context = {
  affiliate_currency: string;
  reporting_currency: string;
  timezone: string;
  day: string;
  month: string;
};

/** Prices the conversion and books its commission (none when a cap rejects it). */
async function book(tx: Tx, c: ConversionChanged) {
  const occurredAt = new Date(c.occurred_at);
  const [ctx] = await tx<Context[]>`
    select a.payout_currency as affiliate_currency, b.currency as reporting_currency, b.timezone,
           (${occurredAt}::timestamptz at time zone b.timezone)::date::text as day,
           date_trunc('month', ${occurredAt}::timestamptz at time zone b.timezone)::date::text as month
    from affiliates a, brands b where a.id = ${c.affiliate_id} and b.id = ${c.brand_id}`;
  if (!ctx) throw new Error(`affiliate ${c.affiliate_id} or brand ${c.brand_id} not found`);

  // Tier and cap counts must see every earlier booking of the same offer and event.
  await tx`select pg_advisory_xact_lock(hashtextextended(${`rules:${c.offer_id}:${c.event}`}, 0))`;
  const rule = await findRule(tx, c);
  let pricing: (Pricing & { amountRate: FxRate | null; overrideRate: FxRate | null }) | null = null;
  if (rule) {
    const counts = await countQualifying(tx, rule, c, ctx);
    const usesAmount = [
      rule.payout_percent,
      rule.revenue_percent,
      ...rule.tiers.map((t) => t.payout_percent),
    ].some((p) => !isZero(ratio(p)));
    const amountRate =
      usesAmount && c.amount && !isZero(ratio(c.amount))
        ? await rateAt(tx, c.currency, rule.currency, occurredAt)
        : null;
    const overrideRate = c.payout_override ? await rateAt(tx, c.currency, rule.currency, occurredAt) : null;
    const amount = c.amount && amountRate ? mul(ratio(c.amount), amountRate.value) : null;
    const override =
      c.payout_override && overrideRate
        ? {
            sent: c.payout_override,
            currency: c.currency,
            value: mul(ratio(c.payout_override), overrideRate.value),
          }
        : null;
    pricing = { ...price(rule, { amount, override, counts }), amountRate, overrideRate };
  }
  const outcome: BookingOutcome = pricing?.outcome ?? "no_rule";
  const booking: BookingRow = {
    outcome,
    hold_days: rule?.hold_days ?? 0,
    affiliate_currency: ctx.affiliate_currency,
  };
  await tx`
    insert into commission_bookings (conversion_id, change_seq, offer_id, event, affiliate_id, brand_id, rule_id, occurred_at,
                                     period_day, period_month, outcome, tier, qualifying_count, hold_days, affiliate_currency)
    values (${c.conversion_id}, ${c.seq}, ${c.offer_id}, ${c.event}, ${c.affiliate_id}, ${c.brand_id}, ${rule?.id ?? null},
            ${occurredAt}, ${ctx.day}, ${ctx.month}, ${outcome}, ${pricing?.tier ?? 0}, ${pricing?.qualifying_count ?? null},
            ${booking.hold_days}, ${ctx.affiliate_currency})`;
  if (outcome === "capped_rejected") return { booking, entry: null, row: null };

  const dealCurrency = rule?.currency ?? c.currency;
  const payout = pricing?.payout ?? toCurrency(ZERO, dealCurrency);
  const revenue = pricing?.revenue ?? toCurrency(ZERO, dealCurrency);
  // Normalised once, at the rate in force at the event time; reversals reuse these figures.
  const moves = !isZero(ratio(payout)) || !isZero(ratio(revenue));
  const toAffiliate = moves
    ? await rateAt(tx, dealCurrency, ctx.affiliate_currency, occurredAt)
    : unused(dealCurrency, ctx.affiliate_currency);
  const toReporting = moves
    ? await rateAt(tx, dealCurrency, ctx.reporting_currency, occurredAt)
    : unused(dealCurrency, ctx.reporting_currency);
  const affiliatePayout = toCurrency(mul(ratio(payout), toAffiliate.value), ctx.affiliate_currency);
  const reportingPayout = toCurrency(mul(ratio(payout), toReporting.value), ctx.reporting_currency);
  const reportingRevenue = toCurrency(mul(ratio(revenue), toReporting.value), ctx.reporting_currency);
  const calculation = {
    rule: rule ? { id: rule.id, affiliate_specific: rule.affiliate_id !== null, model: rule.model } : null,
    outcome,
    amount: c.amount
      ? { value: c.amount, currency: c.currency, rate_to_deal: pricing?.amountRate?.display ?? null }
      : null,
    tier: pricing?.tier ?? 0,
    qualifying_count: pricing?.qualifying_count ?? null,
    cap: pricing?.cap ?? null,
    override: pricing?.override ?? null,
    deal: { payout, revenue, currency: dealCurrency },
    affiliate: {
      payout: affiliatePayout,
      currency: ctx.affiliate_currency,
      rate: toAffiliate.display,
      via: toAffiliate.via,
    },
    reporting: {
      payout: reportingPayout,
      revenue: reportingRevenue,
      currency: ctx.reporting_currency,
      rate: toReporting.display,
      via: toReporting.via,
    },
    rounding: "half away from zero to the currency's minor unit, once per figure",
  };
  const [row] = await tx<(EntryRow & { id: string })[]>`
    insert into ledger_entries (conversion_id, change_seq, affiliate_id, offer_id, brand_id, type, payout, revenue, currency,
                                rule_id, occurred_at, available_at, affiliate_payout, affiliate_currency,
                                reporting_payout, reporting_revenue, reporting_currency, calculation)
    values (${c.conversion_id}, ${c.seq}, ${c.affiliate_id}, ${c.offer_id}, ${c.brand_id}, 'commission', ${payout}, ${revenue},
            ${dealCurrency}, ${rule?.id ?? null}, ${occurredAt},
            ${c.status === "approved" ? tx`now() + make_interval(days => ${booking.hold_days})` : null},
            ${affiliatePayout}, ${ctx.affiliate_currency}, ${reportingPayout}, ${reportingRevenue}, ${ctx.reporting_currency},
            ${tx.json(calculation as never)})
    returning id, type, payout::text, revenue::text, currency, affiliate_payout::text, affiliate_currency,
              reporting_payout::text, reporting_revenue::text, reporting_currency, available_at`;
  if (!row) throw new Error("ledger insert returned nothing");
  return {
    booking,
    entry: { id: row.id, type: "commission" as const, payout, revenue, currency: dealCurrency },
    row,
  };
}

/** Zero converts to zero in any currency: no rate needed (and none required to book a zero). */
const unused = (from: string, to: string): FxRate => ({ from, to, value: ZERO, display: "n/a", via: [] });

/** One entry that negates every figure still booked for the conversion. */
async function reverse(tx: Tx, c: ConversionChanged, entries: EntryRow[]) {
  const sum = (pick: (e: EntryRow) => string | null): Ratio =>
    entries.reduce((s, e) => add(s, ratio(pick(e) ?? "0")), ZERO);
  const commission = entries.find((e) => e.type === "commission");
  if (!commission) return null;
  const payout = sum((e) => e.payout);
  const revenue = sum((e) => e.revenue);
  const affiliatePayout = sum((e) => e.affiliate_payout);
  if (isZero(payout) && isZero(revenue) && isZero(affiliatePayout)) return null;
  const reportingPayout = sum((e) => e.reporting_payout);
  const reportingRevenue = sum((e) => e.reporting_revenue);
  const fmt = (r: Ratio, currency: string | null) => (currency ? toCurrency(neg(r), currency) : null);
  const [release] = await tx<{ available_at: Date }[]>`
    select available_at from ledger_releases where conversion_id = ${c.conversion_id}`;
  // A reversal sits in the same bucket as what it reverses: held while the commission is held
  // (and with it, when that hold never ends), payable now once the commission was.
  const heldUntil = commission.available_at ?? release?.available_at ?? null;
  const [row] = await tx<(EntryRow & { id: string })[]>`
    insert into ledger_entries (conversion_id, change_seq, affiliate_id, offer_id, brand_id, type, payout, revenue, currency,
                                occurred_at, available_at, affiliate_payout, affiliate_currency,
                                reporting_payout, reporting_revenue, reporting_currency, reverses_entry_id, reason, calculation)
    values (${c.conversion_id}, ${c.seq}, ${c.affiliate_id}, ${c.offer_id}, ${c.brand_id}, 'reversal',
            ${fmt(payout, commission.currency)}, ${fmt(revenue, commission.currency)}, ${commission.currency},
            ${new Date(c.occurred_at)}, ${heldUntil === null ? null : tx`greatest(now(), ${heldUntil}::timestamptz)`},
            ${fmt(affiliatePayout, commission.affiliate_currency)}, ${commission.affiliate_currency},
            ${fmt(reportingPayout, commission.reporting_currency)}, ${fmt(reportingRevenue, commission.reporting_currency)},
            ${commission.reporting_currency}, ${commission.id}, ${c.status},
            ${tx.json({ reverses: commission.id, status: c.status, previous_status: c.previous_status } as never)})
    returning id, type, payout::text, revenue::text, currency, affiliate_payout::text, affiliate_currency,
              reporting_payout::text, reporting_revenue::text, reporting_currency, available_at`;
  if (!row) throw new Error("ledger insert returned nothing");
  return {
    entry: {
      id: row.id,
      type: "reversal" as const,
      payout: row.payout,
      revenue: row.revenue,
      currency: row.currency,
    },
    row,
  };
}

const RULE_COLUMNS = (tx: Tx) => tx`
  id, affiliate_id, model, payout::text, payout_percent::text, revenue::text, revenue_percent::text, currency, tiers,
  tier_period, cap_daily, cap_monthly, cap_scope, cap_action, advertiser_payout, advertiser_payout_min::text,
  advertiser_payout_max::text, hold_days`;

/** The most specific active rule wins: this affiliate's for the offer and event, else the offer's; the newest of equals. */
export async function findRule(
  tx: Tx,
  c: Pick<ConversionChanged, "offer_id" | "event" | "affiliate_id">,
): Promise<PayoutRule | undefined> {
  const [rule] = await tx<PayoutRule[]>`
    select ${RULE_COLUMNS(tx)} from payout_rules
    where offer_id = ${c.offer_id} and event = ${c.event} and status = 'active'
      and (affiliate_id = ${c.affiliate_id} or affiliate_id is null)
    order by affiliate_id nulls last, id desc
    limit 1`;
  return rule;
}

/**
 * Qualifying conversions booked before this one: booked at the rule's terms (not over a cap,
 * not without a rule) and not reversed since. Tiers count per affiliate in the tier period; caps
 * per affiliate or across the offer, per day and month, in the brand's timezone.
 */
async function countQualifying(
  tx: Tx,
  rule: PayoutRule,
  c: ConversionChanged,
  ctx: Context,
): Promise<Counts> {
  const count = async (affiliate: string | null, period: "day" | "month" | "all") => {
    const [row] = await tx<{ n: number }[]>`
      select count(*)::int as n from commission_bookings b
      where b.offer_id = ${c.offer_id} and b.event = ${c.event} and b.outcome = 'booked'
        ${affiliate ? tx`and b.affiliate_id = ${affiliate}` : tx``}
        ${period === "day" ? tx`and b.period_day = ${ctx.day}` : period === "month" ? tx`and b.period_month = ${ctx.month}` : tx``}
        and not exists (select 1 from ledger_entries r where r.conversion_id = b.conversion_id and r.type = 'reversal')`;
    return row?.n ?? 0;
  };
  const capAffiliate = rule.cap_scope === "affiliate" ? c.affiliate_id : null;
  return {
    tierPeriod: rule.tiers.length ? await count(c.affiliate_id, rule.tier_period) : 0,
    capDay: rule.cap_daily !== null ? await count(capAffiliate, "day") : 0,
    capMonth: rule.cap_monthly !== null ? await count(capAffiliate, "month") : 0,
  };
}
