import { enqueueAll, type PreparedEvent, prepareEvent, subjects } from "@roundtrip/bus";
import type { CommissionBooked, ConversionChanged } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";
import { bookSubAffiliateShares, insertEntry } from "@roundtrip/ledger";
import { blockChange, type ChangeBlocked, unblock } from "./blocks.ts";
import { add, cmp, isZero, mul, neg, type Ratio, ratio, sub, toCurrency, ZERO } from "./decimal.ts";
import { type FxRate, FxRateMissingError, rateAt } from "./fx.ts";
import { type Counts, type PayoutRule, type Pricing, price } from "./payout.ts";
import { countPayout, payoutCapLock } from "./payout-caps.ts";

export type BookedEntry = {
  id: string;
  type: "commission" | "reversal" | "adjustment";
  payout: string;
  revenue: string;
  currency: string;
};
export type BookingOutcome = "booked" | "capped_zero" | "capped_rejected" | "no_rule";

export type Settlement = {
  /**
   * What this change did: priced, released a hold, repriced (an adjustment), reversed, nothing
   * (or stale / a repeat), or blocked (it cannot be booked yet: see blocks.ts).
   */
  outcome:
    | BookingOutcome
    | "released"
    | "repriced"
    | "reversed"
    | "none"
    | "stale"
    | "duplicate"
    | "test"
    | "blocked";
  entry: BookedEntry | null;
  blocked?: ChangeBlocked;
};

const EARNING = new Set(["pending", "approved"]);

/** CONVERSIONS messages settled in one transaction at most (settleBatch). */
export const CHANGES_PER_BATCH = 32;

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
  /** The conversion figures this entry priced (commission and adjustment entries). */
  priced: Priced | null;
};

/** The conversion figures a price depends on: a change to any of them reprices. */
type Priced = { amount: string | null; currency: string; payout_override: string | null };

type BookingRow = {
  outcome: BookingOutcome;
  hold_days: number;
  affiliate_currency: string;
  rule_id: string | null;
  tier: number;
  qualifying_count: number | null;
};

/**
 * Settles one conversion change in the ledger, inside the caller's transaction, and tells
 * delivery. Entries are immutable:
 * - the first earning status (pending or approved) prices the conversion and books the
 *   commission — held until approval when pending, payable after the rule's hold days when
 *   approved;
 * - pending → approved releases the hold (a ledger_releases row, no new money);
 * - an earning change whose amount, currency or advertiser payout differs from what was priced
 *   (an S2S confirmation of a pixel, an amount correction) reprices at the booking's rule and
 *   tier and books the difference as an `adjustment` entry, so the net is what a booking at the
 *   latest figures would give, whatever order the changes came in;
 * - rejected or reversed books one reversing entry for whatever is still booked, at the very
 *   figures and rates of the original, so the balance returns exactly to where it started;
 * - a change older than one already settled (out-of-order delivery) is stale and moves nothing;
 * - the same change twice (a replayed message) is a no-op, by its (conversion, seq) key;
 * - a change that cannot be booked for want of an FX rate is blocked, not failed (blocks.ts):
 *   recorded with its reason, and settled again until the rate is there.
 */
export async function settle(tx: Tx, c: ConversionChanged): Promise<Settlement> {
  return (await settleBatch(tx, [c]))[0] as Settlement;
}

/**
 * `settle` for many changes in one transaction (the consumer's batch inbox transaction), one
 * settlement per change in the order given, each seeing the ones before it. What a batch does
 * once instead of once per change: take its locks — every conversion's, then every offer event's
 * a booking may count, each kind in one sorted order so two batches never deadlock — and find the
 * payout rules.
 */
export async function settleBatch(
  tx: Tx,
  cs: readonly ConversionChanged[],
  options: {
    /** Runs one change's share (by index) where it belongs, e.g. in its own trace (inMessageTrace). */
    each?: (index: number, run: () => Promise<Settlement>) => Promise<Settlement>;
  } = {},
): Promise<Settlement[]> {
  if (cs.length === 0) return [];
  await tx`
    select pg_advisory_xact_lock(k)
    from (select distinct hashtextextended('ledger:' || id, 0) as k
          from unnest(${tx.array(cs.map((c) => c.conversion_id))}::text[]) as id order by 1) s`;
  // Only an earning change can book (and count); one that finds its conversion booked already
  // holds its offer event's lock for nothing, which costs nothing.
  const earning = cs.filter((c) => EARNING.has(c.status));
  const rules = await findRules(tx, earning);
  const counts = new Map<string, boolean>();
  for (const c of earning) {
    const key = `rules:${c.offer_id}:${c.event}`;
    const rule = rules.get(ruleKey(c));
    counts.set(key, (counts.get(key) ?? false) || Boolean(rule && countsBookings(rule)));
  }
  await lockOfferEvents(tx, counts);
  // Payout caps (payout-caps.ts): whether an offer has one is read under this lock, shared with
  // every booking and taken alone by admin setting a cap.
  await tx`
    select pg_advisory_xact_lock_shared(k)
    from (select distinct hashtextextended(key, 0) as k
          from unnest(${tx.array([...new Set(cs.map((c) => payoutCapLock(c.offer_id)))])}::text[]) as key order by 1) s`;
  const each = options.each ?? ((_: number, run: () => Promise<Settlement>) => run());
  // Offer by offer (a stable sort: one conversion's changes keep their order), so the payout
  // counter rows a batch moves (payout-caps.ts, held to the commit) are taken in one order too.
  const order = [...cs.keys()].sort((a, b) => {
    const x = (cs[a] as ConversionChanged).offer_id;
    const y = (cs[b] as ConversionChanged).offer_id;
    return x < y ? -1 : x > y ? 1 : a - b;
  });
  const out: Settlement[] = new Array(cs.length);
  const written: Written = { events: [], changes: [] };
  const settled = new Set<string>();
  for (const i of order) {
    const c = cs[i] as ConversionChanged;
    // A second change of a conversion must see the first one's record (settleOne's state).
    if (settled.has(c.conversion_id)) await recordChanges(tx, written.changes.splice(0));
    settled.add(c.conversion_id);
    out[i] = await each(i, () => settleOne(tx, c, rules.get(ruleKey(c)), written));
  }
  await recordChanges(tx, written.changes);
  await enqueueAll(tx, written.events);
  return out;
}

/** What a change needs to know of its conversion, read in one statement under its lock. */
type State = {
  later: boolean;
  same: boolean;
  is_test: boolean;
  /** A block of this or an earlier change waits (blocks.ts). */
  blocked: boolean;
  entries: EntryRow[];
  booking: (BookingRow & { rule_currency: string | null }) | null;
  /** Null when the affiliate or the brand is not found. */
  ctx: Context | null;
  /** The offer's currency when it has a payout cap (its counters are kept in it: payout-caps.ts). */
  payout_cap_currency: string | null;
  /** The affiliate has a parent (sub-affiliate shares may be due). */
  has_parent: boolean;
  /** Sub-affiliate shares were booked for the conversion (a reversal reverses them). */
  has_shares: boolean;
};

/**
 * What a batch writes together at its end, for the changes settled (never for one rolled back to
 * its savepoint): the COMMISSIONS events and the commission_changes records.
 */
type Written = { events: PreparedEvent[]; changes: ChangeRecord[] };
type ChangeRecord = { c: ConversionChanged; outcome: string; entryId: string | null };

async function settleOne(
  tx: Tx,
  c: ConversionChanged,
  rule: PayoutRule | undefined,
  written: Written,
): Promise<Settlement> {
  const occurredAt = new Date(c.occurred_at);
  const [row] = await tx<
    (Omit<State, "entries"> & {
      entries: (Omit<EntryRow, "available_at"> & { available_at: string | null })[];
    })[]
  >`
    select coalesce(bool_or(x.change_seq > ${c.seq}), false) as later, coalesce(bool_or(x.change_seq = ${c.seq}), false) as same,
      coalesce((select is_test from conversions where id = ${c.conversion_id}), false) as is_test,
      exists (select 1 from commission_blocks where conversion_id = ${c.conversion_id} and change_seq <= ${c.seq}) as blocked,
      (select coalesce(jsonb_agg(to_jsonb(e) - 'n' order by e.n), '[]') from (
         select id as n, id::text as id, type, payout::text as payout, revenue::text as revenue, currency,
                affiliate_payout::text as affiliate_payout, affiliate_currency, reporting_payout::text as reporting_payout,
                reporting_revenue::text as reporting_revenue, reporting_currency, available_at, calculation->'priced' as priced
         from ledger_entries where conversion_id = ${c.conversion_id} and tier = 1) e) as entries,
      (select to_jsonb(b) from (
         select outcome, hold_days, affiliate_currency, rule_id::text as rule_id, tier, qualifying_count,
                (select currency from payout_rules r where r.id = cb.rule_id) as rule_currency
         from commission_bookings cb where conversion_id = ${c.conversion_id}) b) as booking,
      (select to_jsonb(k) from (
         select a.payout_currency as affiliate_currency, b.currency as reporting_currency, b.timezone,
                (${occurredAt}::timestamptz at time zone b.timezone)::date::text as day,
                date_trunc('month', ${occurredAt}::timestamptz at time zone b.timezone)::date::text as month
         from affiliates a, brands b where a.id = ${c.affiliate_id} and b.id = ${c.brand_id}) k) as ctx,
      (select currency from offers where id = ${c.offer_id}
         and (payout_cap_daily is not null or payout_cap_monthly is not null)) as payout_cap_currency,
      exists (select 1 from affiliate_payout_settings
              where affiliate_id = ${c.affiliate_id} and parent_affiliate_id is not null) as has_parent,
      exists (select 1 from ledger_entries where conversion_id = ${c.conversion_id} and tier > 1) as has_shares
    from commission_changes x where x.conversion_id = ${c.conversion_id}`;
  const state: State = {
    ...(row as NonNullable<typeof row>),
    entries: (row?.entries ?? []).map((e) => ({
      ...e,
      available_at: e.available_at === null ? null : new Date(e.available_at),
    })),
  };
  if (state.same) return { outcome: "duplicate", entry: null };
  if (state.later) {
    written.changes.push({ c, outcome: "stale", entryId: null });
    return { outcome: "stale", entry: null };
  }
  // Launch-validation traffic (a test affiliate's conversions) proves the pipeline but moves no
  // money: recorded, never priced, and nothing is sent on to delivery.
  if (state.is_test) {
    written.changes.push({ c, outcome: "test", entryId: null });
    return { outcome: "test", entry: null };
  }

  let settled: Settlement & { event: PreparedEvent };
  if (singleCurrency(c, state, rule)) {
    // Nothing to convert, so no FX rate can be missing: no savepoint to fall back to.
    settled = await settleChange(tx, c, state, rule);
  } else {
    try {
      settled = await tx.savepoint((sp) => settleChange(sp, c, state, rule));
    } catch (err) {
      if (!(err instanceof FxRateMissingError)) throw err;
      // Everything the attempt wrote was rolled back to the savepoint; the change waits, visibly.
      const blocked = await blockChange(tx, c, err);
      return { outcome: "blocked", entry: null, blocked };
    }
  }
  if (state.blocked) await unblock(tx, c.conversion_id, c.seq);
  written.events.push(settled.event);
  written.changes.push({ c, outcome: settled.outcome, entryId: settled.entry?.id ?? null });
  return { outcome: settled.outcome, entry: settled.entry };
}

/** Every figure of the change, its rules and its entries in one currency: rateAt converts nothing. */
function singleCurrency(c: ConversionChanged, state: State, rule: PayoutRule | undefined): boolean {
  const currencies = new Set([c.currency.trim()]);
  const add = (x: string | null | undefined) => {
    if (x) currencies.add(x.trim());
  };
  add(rule?.currency);
  add(state.ctx?.affiliate_currency);
  add(state.ctx?.reporting_currency);
  add(state.booking?.affiliate_currency);
  add(state.booking?.rule_currency);
  add(state.payout_cap_currency);
  for (const e of state.entries) {
    add(e.currency);
    add(e.affiliate_currency);
    add(e.reporting_currency);
  }
  return currencies.size === 1 && state.ctx !== null;
}

async function settleChange(
  tx: Tx,
  c: ConversionChanged,
  state: State,
  rule: PayoutRule | undefined,
): Promise<Settlement & { event: PreparedEvent }> {
  const entries = [...state.entries];
  let booking: BookingRow | undefined = state.booking ?? undefined;

  let outcome: Settlement["outcome"] = "none";
  let entry: BookedEntry | null = null;
  if (EARNING.has(c.status) && !booking) {
    const priced = await book(tx, c, state.ctx, rule);
    booking = priced.booking;
    outcome = priced.booking.outcome;
    entry = priced.entry;
    if (entry) entries.push(priced.row as EntryRow);
  } else if (EARNING.has(c.status) && booking) {
    if (c.status === "approved" && entries.some((e) => e.type === "commission" && e.available_at === null)) {
      const released = await tx`
        insert into ledger_releases (conversion_id, change_seq, available_at)
        values (${c.conversion_id}, ${c.seq}, now() + make_interval(days => ${booking.hold_days}))
        on conflict (conversion_id) do nothing
        returning 1`;
      if (released.length) outcome = "released";
    }
    const adjustment = await reprice(tx, c, booking, entries);
    if (adjustment) {
      outcome = "repriced";
      entry = adjustment.entry;
      entries.push(adjustment.row);
    }
  } else if (!EARNING.has(c.status) && entries.length) {
    const reversal = await reverse(tx, c, entries);
    if (reversal) {
      outcome = "reversed";
      entry = reversal.entry;
      entries.push(reversal.row);
    }
  }
  const booked = entry && entries.at(-1);
  // Shares only where there can be any: the affiliate has a parent, or a reversal finds shares.
  const shares = entry?.type === "reversal" ? state.has_shares : state.has_parent;
  if (entry && booked && shares) {
    // Parents' shares commit with the child's entry, so they are booked exactly once with it.
    await bookSubAffiliateShares(tx, {
      ...conversionOf(c),
      id: entry.id,
      type: entry.type,
      affiliate_payout: booked.affiliate_payout,
      affiliate_currency: booked.affiliate_currency,
      available_at: booked.available_at,
      occurred_at: new Date(c.occurred_at),
    });
  }

  const affiliateCurrency =
    booking?.affiliate_currency ??
    state.ctx?.affiliate_currency ??
    (await affiliateCurrencyOf(tx, c.affiliate_id));
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
  // Written with the batch's other events once it is settled (settleBatch), never for a change
  // rolled back to its savepoint.
  const prepared = prepareEvent({
    subject: subjects.commissionBooked(),
    payload: event,
    msgId: `comm:${c.conversion_id}:${c.seq}`,
  });
  // Last: an offer's payout counter row is held from here to the commit. An offer without a
  // payout cap counts nothing (read under the batch's payout-cap lock: settleBatch).
  if (entry && state.payout_cap_currency !== null) await countPayout(tx, c, entry);
  return { outcome, entry, event: prepared };
}

/** The changes settled, one commission_changes row each (its (conversion, seq) makes a repeat a no-op). */
async function recordChanges(tx: Tx, changes: readonly ChangeRecord[]): Promise<void> {
  if (changes.length === 0) return;
  await tx`
    insert into commission_changes (conversion_id, change_seq, status, outcome, entry_id)
    select * from unnest(${tx.array(changes.map((x) => x.c.conversion_id))}::bigint[],
                         ${tx.array(changes.map((x) => x.c.seq))}::int[],
                         ${tx.array(changes.map((x) => x.c.status))}::text[],
                         ${tx.array(changes.map((x) => x.outcome))}::text[],
                         ${tx.array(changes.map((x) => x.entryId))}::bigint[])`;
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

const ENTRY_COLUMNS = (tx: Tx) => tx`
  id, type, payout::text, revenue::text, currency, affiliate_payout::text, affiliate_currency,
  reporting_payout::text, reporting_revenue::text, reporting_currency, available_at, calculation->'priced' as priced`;

/** The conversion an entry settles, as every entry of it names it. */
const conversionOf = (c: ConversionChanged) => ({
  conversion_id: c.conversion_id,
  change_seq: c.seq,
  affiliate_id: c.affiliate_id,
  offer_id: c.offer_id,
  brand_id: c.brand_id,
});

/**
 * Prices the conversion and books its commission (none when a cap rejects it). Its rule was found
 * and its offer event locked by the batch (settleBatch).
 */
async function book(tx: Tx, c: ConversionChanged, found: Context | null, rule: PayoutRule | undefined) {
  const occurredAt = new Date(c.occurred_at);
  if (!found) throw new Error(`affiliate ${c.affiliate_id} or brand ${c.brand_id} not found`);
  const ctx = found;
  const pricing = rule ? await priceAt(tx, c, rule, await countQualifying(tx, rule, c, ctx)) : null;
  const outcome: BookingOutcome = pricing?.outcome ?? "no_rule";
  const booking: BookingRow = {
    outcome,
    hold_days: rule?.hold_days ?? 0,
    affiliate_currency: ctx.affiliate_currency,
    rule_id: rule?.id ?? null,
    tier: pricing?.tier ?? 0,
    qualifying_count: pricing?.qualifying_count ?? null,
  };
  await tx`
    insert into commission_bookings (conversion_id, change_seq, offer_id, event, affiliate_id, brand_id, rule_id, occurred_at,
                                     period_day, period_month, outcome, tier, qualifying_count, hold_days, affiliate_currency)
    values (${c.conversion_id}, ${c.seq}, ${c.offer_id}, ${c.event}, ${c.affiliate_id}, ${c.brand_id}, ${rule?.id ?? null},
            ${occurredAt}, ${ctx.day}, ${ctx.month}, ${outcome}, ${booking.tier}, ${booking.qualifying_count},
            ${booking.hold_days}, ${ctx.affiliate_currency})`;
  if (outcome === "capped_rejected") return { booking, entry: null, row: null };

  const f = await figuresOf(tx, c, rule ?? null, pricing, ctx, occurredAt);
  const row = (await insertEntry<EntryRow>(
    tx,
    {
      type: "commission",
      ...conversionOf(c),
      payout: f.payout,
      revenue: f.revenue,
      currency: f.dealCurrency,
      rule_id: rule?.id ?? null,
      occurred_at: occurredAt,
      availability: c.status === "approved" ? { inDays: booking.hold_days } : { held: true },
      affiliate_payout: f.affiliatePayout,
      affiliate_currency: ctx.affiliate_currency,
      reporting_payout: f.reportingPayout,
      reporting_revenue: f.reportingRevenue,
      reporting_currency: ctx.reporting_currency,
      calculation: f.calculation,
    },
    ENTRY_COLUMNS(tx),
  )) as EntryRow;
  return {
    booking,
    entry: {
      id: row.id,
      type: "commission" as const,
      payout: f.payout,
      revenue: f.revenue,
      currency: f.dealCurrency,
    },
    row,
  };
}

/** A rule with tiers or caps prices a booking by counting the bookings before it. */
const countsBookings = (rule: PayoutRule) =>
  rule.tiers.length > 0 || rule.cap_daily !== null || rule.cap_monthly !== null;

/**
 * Tier and cap counts must see every earlier booking of the same offer and event, whatever rule
 * priced it. A booking that counts takes the (offer, event) lock alone; one that counts nothing
 * — a flat CPA or RevShare, most of them — shares it: those run side by side (one exclusive lock
 * queued every booking of an offer's event behind the one before, ~70 a second in all), and a
 * count still waits for each of them to commit, so none is missed. A batch takes the locks of all
 * its offer events in one statement, in one sorted order (exclusive where any of its bookings
 * counts), so two batches never deadlock on them.
 */
async function lockOfferEvents(tx: Tx, counts: ReadonlyMap<string, boolean>): Promise<void> {
  if (counts.size === 0) return;
  await tx`
    select case when x then pg_advisory_xact_lock(k)::text else pg_advisory_xact_lock_shared(k)::text end
    from (select hashtextextended(key, 0) as k, bool_or(x) as x
          from unnest(${tx.array([...counts.keys()])}::text[], ${tx.array([...counts.values()])}::boolean[]) as q(key, x)
          group by 1 order by 1) s`;
}

type PricedAt = Pricing & { amountRate: FxRate | null; overrideRate: FxRate | null };

/** The rule's price for the conversion's figures (amount, advertiser payout) at its event time. */
async function priceAt(tx: Tx, c: ConversionChanged, rule: PayoutRule, counts: Counts): Promise<PricedAt> {
  const occurredAt = new Date(c.occurred_at);
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
  return { ...price(rule, { amount, override, counts }), amountRate, overrideRate };
}

/** The deal figures and their affiliate and reporting equivalents, with how they were reached. */
async function figuresOf(
  tx: Tx,
  c: ConversionChanged,
  rule: PayoutRule | null,
  pricing: PricedAt | null,
  ctx: Pick<Context, "affiliate_currency" | "reporting_currency">,
  occurredAt: Date,
) {
  const outcome: BookingOutcome = pricing?.outcome ?? "no_rule";
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
  const priced: Priced = { amount: c.amount, currency: c.currency, payout_override: c.payout_override };
  const calculation = {
    rule: rule ? { id: rule.id, affiliate_specific: rule.affiliate_id !== null, model: rule.model } : null,
    outcome,
    priced,
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
  return { payout, revenue, dealCurrency, affiliatePayout, reportingPayout, reportingRevenue, calculation };
}

/** What the conversion's entries last priced (older entries kept it only in the explanation). */
function pricedBy(entries: EntryRow[], c: ConversionChanged): Priced | null {
  const last = entries.filter((e) => e.type !== "reversal").at(-1);
  if (!last) return null;
  return last.priced ?? { amount: c.amount, currency: c.currency, payout_override: c.payout_override };
}

const sameDecimal = (a: string | null, b: string | null) =>
  a === null || b === null ? a === b : cmp(ratio(a), ratio(b)) === 0;

/**
 * The conversion's figures changed since they were priced: price them again at the booking's
 * rule and tier (a cap verdict, a tier, a missing rule stay as booked) and book the difference
 * from everything booked so far as one adjustment entry, in the same bucket (held or payable)
 * as the commission. Nothing when the price does not move.
 */
async function reprice(tx: Tx, c: ConversionChanged, booking: BookingRow, entries: EntryRow[]) {
  const commission = entries.find((e) => e.type === "commission");
  const before = pricedBy(entries, c);
  if (!commission || !before || booking.outcome !== "booked" || !booking.rule_id) return null;
  if (
    sameDecimal(before.amount, c.amount) &&
    before.currency.trim() === c.currency &&
    sameDecimal(before.payout_override, c.payout_override)
  )
    return null;
  const rule = await ruleById(tx, booking.rule_id);
  if (!rule) return null;
  const occurredAt = new Date(c.occurred_at);
  const tierCount = Math.max((booking.qualifying_count ?? 1) - 1, 0);
  const pricing = await priceAt(tx, c, rule, { tierPeriod: tierCount, capDay: 0, capMonth: 0 });
  const ctx = {
    affiliate_currency: commission.affiliate_currency,
    reporting_currency: commission.reporting_currency ?? commission.currency,
  };
  const f = await figuresOf(tx, c, rule, pricing, ctx, occurredAt);
  const sum = (pick: (e: EntryRow) => string | null): Ratio =>
    entries.reduce((s, e) => add(s, ratio(pick(e) ?? "0")), ZERO);
  const diff = {
    payout: sub(
      ratio(f.payout),
      sum((e) => e.payout),
    ),
    revenue: sub(
      ratio(f.revenue),
      sum((e) => e.revenue),
    ),
    affiliate: sub(
      ratio(f.affiliatePayout),
      sum((e) => e.affiliate_payout),
    ),
    reportingPayout: sub(
      ratio(f.reportingPayout),
      sum((e) => e.reporting_payout),
    ),
    reportingRevenue: sub(
      ratio(f.reportingRevenue),
      sum((e) => e.reporting_revenue),
    ),
  };
  if (Object.values(diff).every(isZero)) return null;
  const [release] = await tx<{ available_at: Date }[]>`
    select available_at from ledger_releases where conversion_id = ${c.conversion_id}`;
  const heldUntil = commission.available_at ?? release?.available_at ?? null;
  const calculation = { ...f.calculation, adjusts: commission.id, previous: before };
  const row = (await insertEntry<EntryRow>(
    tx,
    {
      type: "adjustment",
      ...conversionOf(c),
      payout: toCurrency(diff.payout, commission.currency),
      revenue: toCurrency(diff.revenue, commission.currency),
      currency: commission.currency,
      rule_id: rule.id,
      occurred_at: occurredAt,
      availability: { notBefore: heldUntil },
      affiliate_payout: toCurrency(diff.affiliate, ctx.affiliate_currency),
      affiliate_currency: ctx.affiliate_currency,
      reporting_payout: toCurrency(diff.reportingPayout, ctx.reporting_currency),
      reporting_revenue: toCurrency(diff.reportingRevenue, ctx.reporting_currency),
      reporting_currency: ctx.reporting_currency,
      reason: "repriced",
      calculation,
    },
    ENTRY_COLUMNS(tx),
  )) as EntryRow;
  return {
    entry: {
      id: row.id,
      type: "adjustment" as const,
      payout: row.payout,
      revenue: row.revenue,
      currency: row.currency,
    },
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
  const row = (await insertEntry<EntryRow>(
    tx,
    {
      type: "reversal",
      ...conversionOf(c),
      payout: fmt(payout, commission.currency) as string,
      revenue: fmt(revenue, commission.currency) as string,
      currency: commission.currency,
      occurred_at: new Date(c.occurred_at),
      availability: { notBefore: heldUntil },
      affiliate_payout: fmt(affiliatePayout, commission.affiliate_currency) as string,
      affiliate_currency: commission.affiliate_currency,
      reporting_payout: fmt(reportingPayout, commission.reporting_currency),
      reporting_revenue: fmt(reportingRevenue, commission.reporting_currency),
      reporting_currency: commission.reporting_currency,
      reverses_entry_id: commission.id,
      reason: c.status,
      calculation: { reverses: commission.id, status: c.status, previous_status: c.previous_status },
    },
    ENTRY_COLUMNS(tx),
  )) as EntryRow;
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

async function ruleById(tx: Tx, id: string): Promise<PayoutRule | undefined> {
  const [rule] = await tx<PayoutRule[]>`select ${RULE_COLUMNS(tx)} from payout_rules where id = ${id}`;
  return rule;
}

/** The most specific active rule wins: this affiliate's for the offer and event, else the offer's; the newest of equals. */
const ruleKey = (c: Pick<ConversionChanged, "offer_id" | "event" | "affiliate_id">) =>
  `${c.offer_id}:${c.event}:${c.affiliate_id}`;

/** `findRule` for every (offer, event, affiliate) of a batch's changes, in one statement; by ruleKey. */
async function findRules(
  tx: Tx,
  cs: readonly Pick<ConversionChanged, "offer_id" | "event" | "affiliate_id">[],
): Promise<Map<string, PayoutRule>> {
  const wanted = [...new Map(cs.map((c) => [ruleKey(c), c])).values()];
  if (wanted.length === 0) return new Map();
  const rows = await tx<(PayoutRule & { q_key: string })[]>`
    select q.offer_id || ':' || q.event || ':' || q.affiliate_id as q_key, r.*
    from unnest(${tx.array(wanted.map((c) => c.offer_id))}::text[], ${tx.array(wanted.map((c) => c.event))}::text[],
                ${tx.array(wanted.map((c) => c.affiliate_id))}::text[]) as q(offer_id, event, affiliate_id)
    cross join lateral (
      select ${RULE_COLUMNS(tx)} from payout_rules
      where offer_id = q.offer_id::bigint and event = q.event and status = 'active'
        and (affiliate_id = q.affiliate_id::bigint or affiliate_id is null)
      order by affiliate_id nulls last, id desc
      limit 1) r`;
  return new Map(rows.map(({ q_key, ...rule }) => [q_key, rule as PayoutRule]));
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
