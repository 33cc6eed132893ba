import { roundToCurrency, toMicros, fromMicros, minorUnits } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";
import { payableAt, entriesAsOf } from "./balances.ts";
import { bookCarryover, type CarryoverMode, planCarryover, type PlannedCarryover } from "./carryover.ts";
import { type CycleKind, localMidnight, type Period, periodEndingOn } from "./cycles.ts";
import { insertEntry } from "./entries.ts";
import { LedgerRuleError } from "./errors.ts";

/** Why an affiliate's balance in a currency is not in a run. */
export type NotPaidReason =
  | "not_in_cycle"
  | "period_not_ended"
  | "on_hold"
  | "nothing_due"
  | "below_minimum"
  | "missing_payment_details";

export type PlannedLine = {
  affiliate_id: string;
  currency: string;
  /** payable at the cut-off, after the period's carryover */
  due: string;
  /** what closing the period adds (a reset writes a negative period off) */
  carryover: string;
  minimum: string;
  period_start: Date | null;
  period_end: Date | null;
  paid: boolean;
  reason: NotPaidReason | null;
  method: string | null;
  /** whole: callers mask it for display; only an approved run's export carries it */
  account_reference: string | null;
  account_holder: string | null;
  bic: string | null;
};

export type PayoutPlan = { cutoff: Date; lines: PlannedLine[]; carryovers: PlannedCarryover[] };

type AffiliateTerms = {
  affiliate_id: string;
  cycle: CycleKind;
  cycle_days: number | null;
  cycle_anchor: string;
  time_zone: string;
  payout_hold: boolean;
  negative_carryover: CarryoverMode;
  method: string | null;
  account_reference: string | null;
  account_holder: string | null;
  bic: string | null;
};

const add = (a: string, b: string, currency: string) =>
  roundToCurrency(fromMicros(toMicros(a) + toMicros(b)), currency);

/** The calendar date a run pays up to: every affiliate's period ending that day, in its own zone. */
export const runDate = (cutoff: Date) => cutoff.toISOString().slice(0, 10);

/**
 * What a payout run for the day of `cutoff` (a UTC midnight naming the date) would pay. Each
 * affiliate's cycle ends at that date's midnight in its own time zone (its cut-off): per
 * affiliate and currency, every entry payable by its cut-off (approved and out of hold — holds
 * respected) plus everything already paid out or returned, i.e. the balance still owed. An
 * affiliate is paid when the date ends one of its cycles, its cut-off has passed, it is not on
 * hold, the amount is positive and at least the currency's minimum, and it has payment details;
 * otherwise the line says why not. Affiliates whose cycle ends here have the period closed first
 * (negative carryover).
 */
export async function planPayouts(
  tx: Tx,
  cutoff: Date,
  options: { affiliateId?: string; now?: Date } = {},
): Promise<PayoutPlan> {
  const date = runDate(cutoff);
  const now = options.now ?? new Date();
  const terms = new Map(
    (
      await tx<AffiliateTerms[]>`
        select a.id::text as affiliate_id, coalesce(s.cycle, 'monthly') as cycle, s.cycle_days,
               coalesce(s.cycle_anchor, '2024-01-01')::text as cycle_anchor, coalesce(s.time_zone, 'UTC') as time_zone,
               coalesce(s.payout_hold, false) as payout_hold, coalesce(s.negative_carryover, 'carry') as negative_carryover,
               d.method, d.account_reference, d.account_holder, d.bic
        from affiliates a
        left join affiliate_payout_settings s on s.affiliate_id = a.id
        left join affiliate_payment_details d on d.affiliate_id = a.id
        where exists (select 1 from ledger_entries e where e.affiliate_id = a.id)
          ${options.affiliateId ? tx`and a.id = ${options.affiliateId}` : tx``}`
    ).map((t) => [t.affiliate_id, t]),
  );
  // Each affiliate's cut-off: the run date's midnight in its zone.
  const asOf = new Map([...terms.values()].map((t) => [t.affiliate_id, localMidnight(date, t.time_zone)]));
  const cutoffs = [...asOf].map(([affiliate_id, at]) => ({ affiliate_id, at: at.toISOString() }));
  const dues = await tx<{ affiliate_id: string; currency: string; due: string }[]>`
    with c as (
      select * from jsonb_to_recordset(${JSON.stringify(cutoffs)}::text::jsonb) as c(affiliate_id bigint, at timestamptz)
    )
    select e.affiliate_id::text, e.affiliate_currency as currency,
           coalesce(sum(e.affiliate_payout) filter (
             where e.type in ('payout', 'payout_return') or ${payableAt(tx, tx`c.at`)}), 0)::text as due
    -- left-associative: the release join sees c.at
    from c cross join ${entriesAsOf(tx, tx`c.at`)}
    where e.affiliate_id = c.affiliate_id
    group by 1, 2 order by 1, 2`;
  const minimums = new Map(
    (
      await tx<{ currency: string; minimum: string }[]>`select currency, minimum::text from payout_minimums`
    ).map((m) => [m.currency, m.minimum]),
  );
  const carryovers: PlannedCarryover[] = [];
  const periods = new Map<string, Period | null>();
  const ids = [...new Set(dues.map((d) => d.affiliate_id))];
  for (const id of ids) {
    const t = terms.get(id);
    const period = t ? periodEndingOn(t, date) : null;
    periods.set(id, period);
    if (period && t && period.end <= now)
      carryovers.push(...(await planCarryover(tx, id, period, t.negative_carryover)));
  }
  const lines = dues.map((d): PlannedLine => {
    const t = terms.get(d.affiliate_id);
    const period = periods.get(d.affiliate_id) ?? null;
    const carried = carryovers
      .filter((c) => c.affiliate_id === d.affiliate_id && c.currency === d.currency)
      .flatMap((c) => c.entries)
      .reduce((sum, e) => add(sum, e.amount, d.currency), roundToCurrency("0", d.currency));
    const due = add(d.due, carried, d.currency);
    const minimum = roundToCurrency(minimums.get(d.currency) ?? "0", d.currency);
    const reason: NotPaidReason | null = !period
      ? "not_in_cycle"
      : period.end > now
        ? "period_not_ended"
        : t?.payout_hold
          ? "on_hold"
          : toMicros(due) <= 0n
            ? "nothing_due"
            : toMicros(due) < toMicros(minimum)
              ? "below_minimum"
              : !t?.method
                ? "missing_payment_details"
                : null;
    return {
      affiliate_id: d.affiliate_id,
      currency: d.currency,
      due,
      carryover: carried,
      minimum,
      period_start: period?.start ?? null,
      period_end: period?.end ?? null,
      paid: reason === null,
      reason,
      method: t?.method ?? null,
      account_reference: t?.account_reference ?? null,
      account_holder: t?.account_holder ?? null,
      bic: t?.bic ?? null,
    };
  });
  return { cutoff, lines, carryovers };
}

/** When the run's date begins first anywhere (UTC+14): before that no affiliate's period has ended. */
export const earliestEnd = (cutoff: Date) => new Date(cutoff.getTime() - 14 * 3_600_000);

/** Per currency: what a run pays and in how many lines. */
export function runTotals(lines: readonly PlannedLine[]): Record<string, { amount: string; lines: number }> {
  const totals: Record<string, { amount: string; lines: number }> = {};
  for (const l of lines.filter((x) => x.paid)) {
    const t = totals[l.currency] ?? { amount: roundToCurrency("0", l.currency), lines: 0 };
    totals[l.currency] = { amount: add(t.amount, l.due, l.currency), lines: t.lines + 1 };
  }
  return totals;
}

export type CreatedStatement = { id: string; affiliate_id: string; period_start: Date; period_end: Date };

export type ApprovedRun = { run_id: string; created: boolean };

/**
 * Approves a run at `cutoff`: closes the periods that end there (carryover entries), then turns
 * every line the plan pays into an immutable payout line and a `payout` entry moving its amount
 * from earned to paid — all in the caller's transaction, one run at a time (a lock), so nothing
 * is paid twice: a paid amount has left the balance before the next run looks.
 */
export async function approvePayoutRun(
  tx: Tx,
  cutoff: Date,
  actor: string,
  idempotencyKey: string | null,
): Promise<ApprovedRun & { plan: PayoutPlan; statements: CreatedStatement[] }> {
  if (earliestEnd(cutoff).getTime() > Date.now())
    throw new LedgerRuleError(
      "invalid_amount",
      "period_end: a period is paid once it has ended (that day has begun nowhere yet)",
      "period_end",
    );
  await tx`select pg_advisory_xact_lock(hashtextextended('payout-runs', 0))`;
  if (idempotencyKey) {
    const [existing] = await tx<{ id: string; period_end: Date }[]>`
      select id, period_end from payout_runs where idempotency_key = ${idempotencyKey}`;
    if (existing) {
      if (existing.period_end.getTime() !== cutoff.getTime())
        throw new LedgerRuleError(
          "idempotency_conflict",
          "this idempotency_key approved another run",
          "idempotency_key",
        );
      return {
        run_id: existing.id,
        created: false,
        plan: { cutoff, lines: [], carryovers: [] },
        statements: [],
      };
    }
  }
  const plan = await planPayouts(tx, cutoff);
  for (const c of plan.carryovers) {
    const line = plan.lines.find((l) => l.affiliate_id === c.affiliate_id && l.period_start);
    if (line?.period_start && line.period_end)
      await bookCarryover(tx, c, { start: line.period_start, end: line.period_end }, actor);
  }
  const paid = plan.lines.filter((l) => l.paid);
  const totals = runTotals(plan.lines);
  const [run] = await tx<{ id: string }[]>`
    insert into payout_runs (period_end, actor, idempotency_key, totals)
    values (${cutoff}, ${actor}, ${idempotencyKey}, ${tx.json(totals)}) returning id`;
  const runId = run?.id as string;
  for (const l of paid) {
    const [next] = await tx<
      { id: string }[]
    >`select nextval(pg_get_serial_sequence('payout_lines', 'id'))::text as id`;
    const lineId = next?.id as string;
    const out = roundToCurrency(fromMicros(-toMicros(l.due)), l.currency);
    const entry = await insertEntry<{ id: string }>(
      tx,
      {
        type: "payout",
        affiliate_id: l.affiliate_id,
        payout: out,
        revenue: "0",
        currency: l.currency,
        availability: { now: true },
        affiliate_payout: out,
        affiliate_currency: l.currency,
        payout_line_id: lineId,
        reason: `payout run ${runId}`,
        actor,
        idempotency_key: `payout-line:${lineId}`,
        calculation: { payout: { run: runId, line: lineId, period_end: cutoff, method: l.method } },
      },
      tx`id`,
    );
    await tx`
      insert into payout_lines (id, run_id, affiliate_id, currency, amount, period_start, period_end, method,
                                account_reference, account_holder, bic, payout_entry_id)
      values (${lineId}, ${runId}, ${l.affiliate_id}, ${l.currency}, ${l.due}, ${l.period_start}, ${l.period_end},
              ${l.method}, ${l.account_reference}, ${l.account_holder}, ${l.bic}, ${entry?.id as string})`;
  }
  // One statement per affiliate whose cycle ended here (and has ended: its zone is past midnight).
  const closed = (l: PlannedLine) => l.period_start !== null && l.reason !== "period_not_ended";
  const inCycle = [...new Set(plan.lines.filter(closed).map((l) => l.affiliate_id))];
  const statements: CreatedStatement[] = [];
  for (const id of inCycle) {
    const l = plan.lines.find((x) => x.affiliate_id === id && closed(x)) as PlannedLine;
    statements.push(
      ...(await tx<CreatedStatement[]>`
        insert into statements (affiliate_id, period_start, period_end, run_id)
        values (${id}, ${l.period_start}, ${l.period_end}, ${runId})
        on conflict (affiliate_id, period_start, period_end) do nothing
        returning id::text, affiliate_id::text, period_start, period_end`),
    );
  }
  return { run_id: runId, created: true, plan, statements };
}

export type LineOutcome = {
  status: "paid" | "failed";
  provider_reference?: string | null;
  failure_reason?: string | null;
};

/**
 * Records the payment provider's result for a line, once: paid, or failed — and a failed line's
 * amount returns to the balance (a `payout_return` entry). The same result again changes nothing;
 * a different one for a settled line is refused.
 */
export async function recordLineOutcome(
  tx: Tx,
  lineId: string,
  outcome: LineOutcome,
  actor: string,
): Promise<{ changed: boolean; status: string }> {
  const [line] = await tx<
    { id: string; affiliate_id: string; currency: string; amount: string; status: string; run_id: string }[]
  >`
    select id, affiliate_id, currency, amount::text, status, run_id from payout_lines where id = ${lineId} for update`;
  if (!line) throw new LedgerRuleError("missing_link", `no payout line ${lineId}`, "line_id");
  if (line.status !== "pending") {
    if (line.status === outcome.status) return { changed: false, status: line.status };
    throw new LedgerRuleError("idempotency_conflict", `line ${lineId} is already ${line.status}`, "status");
  }
  let returned: string | null = null;
  if (outcome.status === "failed") {
    const back = roundToCurrency(line.amount, line.currency);
    const entry = await insertEntry<{ id: string }>(
      tx,
      {
        type: "payout_return",
        affiliate_id: line.affiliate_id,
        payout: back,
        revenue: "0",
        currency: line.currency,
        availability: { now: true },
        affiliate_payout: back,
        affiliate_currency: line.currency,
        payout_line_id: line.id,
        reason: outcome.failure_reason ?? "payment failed",
        actor,
        idempotency_key: `payout-return:${line.id}`,
        calculation: { payout_return: { run: line.run_id, line: line.id } },
      },
      tx`id`,
    );
    returned = entry?.id ?? null;
  }
  await tx`
    update payout_lines set status = ${outcome.status}, provider_reference = ${outcome.provider_reference ?? null},
           failure_reason = ${outcome.failure_reason ?? null}, settled_at = now(), return_entry_id = ${returned}
    where id = ${line.id}`;
  return { changed: true, status: outcome.status };
}

/** Minor-unit check for a minimum or any configured amount. */
export const fitsCurrency = (amount: string, currency: string) =>
  (amount.split(".")[1]?.length ?? 0) <= minorUnits(currency);
