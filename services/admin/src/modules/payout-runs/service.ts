import { maskAccountReference, roundToCurrency } from "@roundtrip/contracts";
import type { Sql, Tx } from "@roundtrip/db";
import {
  approvePayoutRun,
  earliestEnd,
  type PlannedLine,
  planPayouts,
  recordLineOutcome,
  runTotals,
} from "@roundtrip/ledger";
import { HttpError } from "@roundtrip/service";
import { CsvError, parse } from "csv-parse/sync";
import { ledgerHttpError } from "../balances/service.ts";
import { announceLineOutcome, announceStatement } from "./partner-events.ts";
import { type ExportFormat, type ExportLine, exportCsv, lineReference, METHOD_OF } from "./exports.ts";
import type { LineView } from "./model.ts";

/**
 * The run's day, as that day's UTC midnight: each affiliate's cut-off is the day's midnight in its
 * own zone (packages/ledger, cycles.ts). Refused until the day has begun somewhere (UTC+14).
 */
export function cutoffOf(periodEnd: string): Date {
  const at = new Date(`${periodEnd.slice(0, 10)}T00:00:00Z`);
  if (Number.isNaN(at.getTime()) || at.toISOString().slice(0, 10) !== periodEnd.slice(0, 10))
    throw new HttpError(400, "invalid_request", "period_end: not a calendar date", "period_end");
  if (earliestEnd(at).getTime() > Date.now())
    throw new HttpError(
      400,
      "invalid_request",
      "period_end: a period is paid once it has ended (that day has begun nowhere yet)",
      "period_end",
    );
  return at;
}

const planView = (l: PlannedLine) => ({
  affiliate_id: l.affiliate_id,
  currency: l.currency,
  due: l.due,
  carryover: l.carryover,
  minimum: l.minimum,
  period_start: l.period_start,
  period_end: l.period_end,
  paid: l.paid,
  reason: l.reason,
  method: l.method,
  account_reference_masked: maskAccountReference(l.account_reference),
});

/** What a run at `cutoff` would pay, and why not for every other balance: nothing is written. */
export async function preview(sql: Sql, cutoff: Date) {
  const plan = await sql.begin((tx) => planPayouts(tx, cutoff));
  return { period_end: cutoff, totals: runTotals(plan.lines), lines: plan.lines.map(planView) };
}

export async function approve(tx: Tx, cutoff: Date, actor: string, idempotencyKey: string | null) {
  try {
    const approved = await approvePayoutRun(tx, cutoff, actor, idempotencyKey);
    for (const s of approved.statements) await announceStatement(tx, s);
    return approved;
  } catch (err) {
    throw ledgerHttpError(err);
  }
}

type LineRow = LineView & { account_reference: string };

const LINE_COLUMNS = (sql: Sql | Tx) => sql`
  id::text, run_id::text, affiliate_id::text, currency::text, amount::text, period_start, period_end, method,
  account_reference, status, provider_reference, failure_reason, settled_at`;

export function lineView(l: LineRow): LineView {
  const { account_reference, ...rest } = l;
  return {
    ...rest,
    amount: roundToCurrency(l.amount, l.currency),
    account_reference_masked: maskAccountReference(account_reference),
  };
}

export async function lines(
  sql: Sql | Tx,
  q: { affiliateId?: string | null; runId?: string; status?: string },
): Promise<LineView[]> {
  const rows = await sql<LineRow[]>`
    select ${LINE_COLUMNS(sql)} from payout_lines
    where true
      ${q.affiliateId ? sql`and affiliate_id = ${q.affiliateId}` : sql``}
      ${q.runId ? sql`and run_id = ${q.runId}` : sql``}
      ${q.status ? sql`and status = ${q.status}` : sql``}
    order by id limit 10000`;
  return rows.map(lineView);
}

export async function run(sql: Sql | Tx, id: string) {
  const [row] = await sql<
    {
      id: string;
      period_end: Date;
      actor: string;
      totals: Record<string, { amount: string; lines: number }>;
      created_at: Date;
    }[]
  >`
    select id::text, period_end, actor, totals, created_at from payout_runs where id = ${id}`;
  if (!row) throw new HttpError(404, "not_found", "no such payout run");
  return { ...row, lines: await lines(sql, { runId: id }) };
}

export async function runs(sql: Sql) {
  return sql<
    {
      id: string;
      period_end: Date;
      actor: string;
      totals: Record<string, { amount: string; lines: number }>;
      created_at: Date;
    }[]
  >`
    select id::text, period_end, actor, totals, created_at from payout_runs order by id desc limit 1000`;
}

/** The run's pending lines paid by the format's method, with their references whole. */
export async function exportFile(sql: Sql, runId: string, format: ExportFormat | undefined) {
  await run(sql, runId);
  if (!format)
    throw new HttpError(400, "invalid_request", "format: required (paypal, sepa or tipalti)", "format");
  const rows = await sql<ExportLine[]>`
    select id::text, affiliate_id::text, currency::text, amount::text, method, account_reference, account_holder, bic, period_end
    from payout_lines where run_id = ${runId} and method = ${METHOD_OF[format]} and status = 'pending' order by id`;
  return { csv: exportCsv(format, rows), lines: rows.length };
}

const PAID = new Set(["paid", "success", "successful", "completed", "complete", "settled"]);
const FAILED = new Set([
  "failed",
  "failure",
  "returned",
  "reversed",
  "denied",
  "blocked",
  "rejected",
  "refunded",
  "cancelled",
]);
/**
 * Not settled yet: the line stays pending and a later result file settles it. PayPal's UNCLAIMED
 * is one — the money is still out, returned only if unclaimed after 30 days (then RETURNED) —
 * so treating it as failed would put it back in the balance and pay it twice.
 */
const UNSETTLED = new Set([
  "pending",
  "unclaimed",
  "onhold",
  "on_hold",
  "processing",
  "in_progress",
  "scheduled",
]);
/** The provider's own id of the payment, kept as given (it is no secret: the affiliate quotes it). */
const PROVIDER_REFERENCE_COLUMNS = [
  "provider_reference",
  "transaction id",
  "transaction_id",
  "paypal transaction id",
  "payment reference",
  "payment_reference",
  "payment id",
];
const REFERENCE_COLUMNS = ["reference", "reference id", "ref code", "end_to_end_id", "line_id"];

/**
 * The provider's result file: a row per line, by the reference the export gave it (`RT-<line>`, or
 * the bare line id), with a status (paid/success/completed, failed/returned/denied…, or not settled
 * yet: pending/unclaimed/onhold — the line stays pending),
 * and optionally the provider's transaction id and a failure reason. Every row is checked before
 * anything is recorded, then all are recorded in one transaction: all or nothing.
 */
export async function importResults(tx: Tx, runId: string, csv: string, actor: string) {
  let records: Record<string, string>[];
  try {
    records = parse(csv, {
      columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()),
      skip_empty_lines: true,
      trim: true,
      bom: true,
    });
  } catch (err) {
    if (err instanceof CsvError)
      throw new HttpError(400, "invalid_csv", `the CSV could not be read: ${err.message}`, "(body)");
    throw err;
  }
  if (!records.length) throw new HttpError(400, "invalid_csv", "the CSV has no rows", "(body)");
  const refColumn = REFERENCE_COLUMNS.find((c) => c in (records[0] as object));
  if (!refColumn || !("status" in (records[0] as object)))
    throw new HttpError(
      400,
      "invalid_csv",
      `the CSV needs a status column and one of ${REFERENCE_COLUMNS.join(", ")}`,
      "(body)",
    );
  const ids = new Set(
    (await tx<{ id: string }[]>`select id::text from payout_lines where run_id = ${runId}`).map((r) => r.id),
  );
  const outcomes = records.map((r, i) => {
    const ref = (r[refColumn] ?? "").replace(/^RT-/i, "");
    if (!ids.has(ref))
      throw new HttpError(
        400,
        "invalid_csv",
        `line ${i + 2}: ${refColumn} ${r[refColumn]} is no line of run ${runId}`,
        refColumn,
      );
    const status = (r.status ?? "").toLowerCase();
    const verdict = PAID.has(status)
      ? "paid"
      : FAILED.has(status)
        ? "failed"
        : UNSETTLED.has(status)
          ? null
          : undefined;
    if (verdict === undefined)
      throw new HttpError(
        400,
        "invalid_csv",
        `line ${i + 2}: status ${r.status} is neither paid, failed nor pending`,
        "status",
      );
    if (verdict === null) return null;
    return {
      lineId: ref,
      outcome: {
        status: verdict,
        provider_reference: PROVIDER_REFERENCE_COLUMNS.map((c) => r[c]).find(Boolean) ?? null,
        failure_reason: verdict === "failed" ? r.failure_reason || r.reason || status : null,
      } as const,
    };
  });
  const settled = outcomes.filter((o) => o !== null);
  const counts = { paid: 0, failed: 0, unchanged: 0, still_pending: outcomes.length - settled.length };
  const changed: { lineId: string; status: "paid" | "failed" }[] = [];
  for (const o of settled) {
    try {
      const r = await recordLineOutcome(tx, o.lineId, o.outcome, actor);
      if (!r.changed) counts.unchanged++;
      else {
        counts[o.outcome.status]++;
        changed.push({ lineId: o.lineId, status: o.outcome.status });
        await announceLineOutcome(tx, o.lineId, o.outcome.status);
      }
    } catch (err) {
      throw ledgerHttpError(err);
    }
  }
  return { counts, changed };
}

export { lineReference };
