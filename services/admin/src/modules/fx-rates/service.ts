import type { Sql, Tx } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Value } from "@sinclair/typebox/value";
import { parse } from "csv-parse/sync";
import { FxRateInput } from "./model.ts";

/**
 * Stores rates; the same (pair, effective time) again replaces the rate, so loading a file twice
 * changes nothing. Booked ledger entries keep the rate they were converted at.
 */
export async function upsertRates(tx: Tx, rates: FxRateInput[], source: string) {
  for (const [i, r] of rates.entries()) {
    if (r.base === r.quote)
      throw new HttpError(
        400,
        "invalid_request",
        `rates.${i}: base and quote are the same`,
        `rates.${i}.quote`,
      );
    if (Number(r.rate) <= 0)
      throw new HttpError(400, "invalid_request", `rates.${i}: rate must be above 0`, `rates.${i}.rate`);
  }
  const rows = rates.map((r) => ({
    base: r.base,
    quote: r.quote,
    rate: r.rate,
    effective_at: new Date(r.effective_at),
    source,
  }));
  const stored = [];
  // Batches keep the statement's parameter count in bounds.
  for (let i = 0; i < rows.length; i += 1_000) {
    stored.push(
      ...(await tx`
        insert into fx_rates ${tx(rows.slice(i, i + 1_000))}
        on conflict (base, quote, effective_at) do update set rate = excluded.rate, source = excluded.source
        returning id, base, quote, rate::text, effective_at, source`),
    );
  }
  return stored;
}

const COLUMNS = ["base", "quote", "rate", "effective_at"] as const;

/**
 * A CSV with a header row `base,quote,rate,effective_at` (any column order, extra columns
 * ignored); every row is validated and a bad one is reported by line, nothing stored.
 */
export function parseRatesCsv(text: string): FxRateInput[] {
  let records: Record<string, string>[];
  try {
    records = parse(text, {
      columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()),
      skip_empty_lines: true,
      trim: true,
    });
  } catch (err) {
    throw new HttpError(400, "invalid_csv", `the CSV could not be read: ${(err as Error).message}`, "(body)");
  }
  if (!records.length) throw new HttpError(400, "invalid_csv", "the CSV has no rows", "(body)");
  const missing = COLUMNS.filter((c) => !(c in (records[0] as object)));
  if (missing.length)
    throw new HttpError(400, "invalid_csv", `the CSV lacks column ${missing.join(", ")}`, "(body)");
  return records.map((r, i) => {
    const row = {
      base: r.base?.toUpperCase(),
      quote: r.quote?.toUpperCase(),
      rate: r.rate,
      effective_at: normaliseTime(r.effective_at),
    };
    const error = Value.Errors(FxRateInput, row).First();
    if (error) {
      const field = error.path.replace(/^\//, "");
      throw new HttpError(400, "invalid_csv", `line ${i + 2}: ${field} ${error.message}`, field);
    }
    return row as FxRateInput;
  });
}

// `2026-03-01` means midnight UTC; anything Date understands is normalised to ISO 8601.
function normaliseTime(value: string | undefined): string | undefined {
  if (!value) return value;
  const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  return Number.isNaN(d.getTime()) ? value : d.toISOString();
}

export async function listRates(sql: Sql, q: { base?: string; quote?: string; at?: string }) {
  const where = sql`true ${q.base ? sql`and base = ${q.base}` : sql``} ${q.quote ? sql`and quote = ${q.quote}` : sql``}`;
  if (q.at) {
    return sql`
      select distinct on (base, quote) id, base, quote, rate::text, effective_at, source from fx_rates
      where ${where} and effective_at <= ${new Date(q.at)}
      order by base, quote, effective_at desc`;
  }
  return sql`
    select id, base, quote, rate::text, effective_at, source from fx_rates where ${where}
    order by base, quote, effective_at desc limit 5000`;
}
