import { toMicros } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { CsvError, parse } from "csv-parse/sync";

export type ReconcileColumns = {
  txid: string;
  event?: string;
  amount?: string;
  status?: string;
  currency?: string;
  click_id?: string;
};

export type ReconcileInput = {
  advertiserId: string;
  csv: string;
  columns: ReconcileColumns;
  /** Event for rows without an event column. */
  defaultEvent?: string;
  from?: Date;
  to?: Date;
};

export const MAX_RECONCILE_ROWS = 200_000;

/** What finance files call our statuses. */
const STATUS_SYNONYMS: Record<string, string> = {
  approved: "approved",
  confirmed: "approved",
  paid: "approved",
  valid: "approved",
  pending: "pending",
  hold: "pending",
  on_hold: "pending",
  rejected: "rejected",
  declined: "rejected",
  cancelled: "rejected",
  canceled: "rejected",
  invalid: "rejected",
  reversed: "reversed",
  refunded: "reversed",
  chargeback: "reversed",
};

type Theirs = {
  line: number;
  txid: string;
  event: string | null;
  amount: string | null;
  status: string | null;
  currency: string | null;
};
type Ours = {
  id: string;
  txid: string;
  event: string;
  amount: string | null;
  status: string;
  currency: string;
  offer_id: string;
  affiliate_id: string;
  occurred_at: Date;
};

export type ReconcileResult = {
  summary: Record<string, number>;
  matched: { txid: string; event: string; conversion_id: string }[];
  missing_ours: Theirs[];
  missing_theirs: Ours[];
  mismatches: {
    txid: string;
    event: string;
    conversion_id: string;
    field: "amount" | "status" | "currency";
    theirs: string | null;
    ours: string | null;
  }[];
  invalid: { line: number; error: string }[];
};

/**
 * Compares an advertiser's (or finance's) CSV of conversions with ours for that advertiser:
 * matched, missing on our side, missing on theirs (within the period, when given), and amount,
 * status or currency mismatches. The key is the transaction ID plus the event (from a column or
 * `defaultEvent`); without either, the transaction ID alone. Amounts compare exactly (decimal).
 */
export async function reconcile(sql: Sql, input: ReconcileInput): Promise<ReconcileResult> {
  let records: Record<string, string>[];
  try {
    records = parse(input.csv, {
      columns: true,
      skip_empty_lines: true,
      trim: true,
      bom: true,
      relax_quotes: false,
    });
  } catch (err) {
    const line = err instanceof CsvError ? (err as CsvError & { lines?: number }).lines : undefined;
    throw new HttpError(
      400,
      "invalid_csv",
      `file: the CSV could not be read${line ? ` (line ${line})` : ""}: ${(err as Error).message}`,
      "file",
    );
  }
  if (records.length > MAX_RECONCILE_ROWS) {
    throw new HttpError(
      400,
      "invalid_request",
      `file: at most ${MAX_RECONCILE_ROWS} rows per upload`,
      "file",
    );
  }
  const header = Object.keys(records[0] ?? {});
  for (const [role, column] of Object.entries(input.columns)) {
    if (column && records.length && !header.includes(column)) {
      throw new HttpError(
        400,
        "invalid_request",
        `${role}_column: the CSV has no column "${column}" (it has ${header.join(", ")})`,
        `${role}_column`,
      );
    }
  }
  const useEvent = Boolean(input.columns.event || input.defaultEvent);
  const keyOf = (txid: string, event: string | null) => (useEvent ? `${txid}\u0000${event}` : txid);

  const invalid: ReconcileResult["invalid"] = [];
  const theirs = new Map<string, Theirs>();
  for (const [i, rec] of records.entries()) {
    const line = i + 2; // the header is line 1
    const problem = parseTheirs(rec, input, useEvent);
    if (typeof problem === "string") {
      invalid.push({ line, error: problem });
      continue;
    }
    const key = keyOf(problem.txid, problem.event);
    if (theirs.has(key)) {
      invalid.push({
        line,
        error: `duplicate row for ${problem.txid}${problem.event ? ` / ${problem.event}` : ""}`,
      });
      continue;
    }
    theirs.set(key, { line, ...problem });
  }

  // Ours: every conversion of the advertiser with a txid in their file, plus (when a period is
  // given) every one in the period, so "missing on theirs" means something.
  const txids = [...new Set([...theirs.values()].map((t) => t.txid))];
  const ours = new Map<string, Ours>();
  const add = (rows: readonly Ours[]) => {
    for (const r of rows) {
      const key = keyOf(r.txid, r.event);
      if (!ours.has(key)) ours.set(key, r);
    }
  };
  const columns = sql`id, txid, event, amount::text, status, currency, offer_id, affiliate_id, occurred_at`;
  for (let i = 0; i < txids.length; i += 5_000) {
    add(
      await sql<Ours[]>`
        select ${columns} from conversions
        where advertiser_id = ${input.advertiserId} and txid in ${sql(txids.slice(i, i + 5_000))} and not is_test
        order by id`,
    );
  }
  if (input.from || input.to) {
    add(
      await sql<Ours[]>`
        select ${columns} from conversions
        where advertiser_id = ${input.advertiserId} and txid is not null and not is_test
          and occurred_at >= ${input.from ?? new Date(0)} and occurred_at < ${input.to ?? new Date("9999-01-01")}
        order by id`,
    );
  }

  const result: ReconcileResult = {
    summary: {},
    matched: [],
    missing_ours: [],
    missing_theirs: [],
    mismatches: [],
    invalid,
  };
  for (const [key, t] of theirs) {
    const o = ours.get(key);
    if (!o) {
      result.missing_ours.push(t);
      continue;
    }
    let clean = true;
    const mismatch = (field: "amount" | "status" | "currency", a: string | null, b: string | null) => {
      clean = false;
      result.mismatches.push({
        txid: t.txid,
        event: o.event,
        conversion_id: o.id,
        field,
        theirs: a,
        ours: b,
      });
    };
    if (t.amount !== null && (o.amount === null || toMicros(t.amount) !== toMicros(o.amount)))
      mismatch("amount", t.amount, o.amount);
    if (t.status !== null && t.status !== o.status) mismatch("status", t.status, o.status);
    if (t.currency !== null && t.currency !== o.currency.trim())
      mismatch("currency", t.currency, o.currency.trim());
    if (clean) result.matched.push({ txid: t.txid, event: o.event, conversion_id: o.id });
  }
  for (const [key, o] of ours) if (!theirs.has(key)) result.missing_theirs.push(o);
  result.summary = {
    their_rows: records.length,
    our_rows: ours.size,
    matched: result.matched.length,
    missing_ours: result.missing_ours.length,
    missing_theirs: result.missing_theirs.length,
    amount_mismatches: result.mismatches.filter((m) => m.field === "amount").length,
    status_mismatches: result.mismatches.filter((m) => m.field === "status").length,
    currency_mismatches: result.mismatches.filter((m) => m.field === "currency").length,
    invalid_rows: invalid.length,
  };
  return result;
}

/** One row of their file → its values, or what is wrong with it. */
function parseTheirs(
  rec: Record<string, string>,
  input: ReconcileInput,
  useEvent: boolean,
): Omit<Theirs, "line"> | string {
  const txid = rec[input.columns.txid]?.trim() ?? "";
  if (!txid) return `${input.columns.txid} is empty`;
  const event = input.columns.event
    ? (rec[input.columns.event]?.trim().toLowerCase() ?? "")
    : (input.defaultEvent ?? null);
  if (useEvent && !event) return `${input.columns.event} is empty`;
  let amount: string | null = null;
  if (input.columns.amount) {
    const raw = (rec[input.columns.amount] ?? "").trim();
    if (raw !== "" && !/^-?\d{1,14}(\.\d{1,6})?$/.test(raw))
      return `${input.columns.amount} is not a decimal: ${raw}`;
    amount = raw || null;
  }
  let status: string | null = null;
  if (input.columns.status) {
    const raw = (rec[input.columns.status] ?? "")
      .trim()
      .toLowerCase()
      .replace(/[\s-]+/g, "_");
    status = STATUS_SYNONYMS[raw] ?? (raw || null);
  }
  const currency = input.columns.currency
    ? (rec[input.columns.currency] ?? "").trim().toUpperCase() || null
    : null;
  return { txid, event, amount, status, currency };
}

/** One CSV line per finding, for finance to work through. */
export function reconcileRows(r: ReconcileResult): { columns: string[]; rows: unknown[][] } {
  const columns = ["result", "txid", "event", "conversion_id", "field", "theirs", "ours", "line"];
  const rows: unknown[][] = [
    ...r.matched.map((m) => ["matched", m.txid, m.event, m.conversion_id, "", "", "", ""]),
    ...r.mismatches.map((m) => [
      `${m.field}_mismatch`,
      m.txid,
      m.event,
      m.conversion_id,
      m.field,
      m.theirs,
      m.ours,
      "",
    ]),
    ...r.missing_ours.map((t) => ["missing_ours", t.txid, t.event, "", "", t.amount, "", t.line]),
    ...r.missing_theirs.map((o) => ["missing_theirs", o.txid, o.event, o.id, "", "", o.amount, ""]),
    ...r.invalid.map((i) => ["invalid", "", "", "", "", i.error, "", i.line]),
  ];
  return { columns, rows };
}
