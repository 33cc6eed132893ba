import type { Tx } from "@roundtrip/db";
import { div, mul, ONE, type Ratio, ratio, round } from "./decimal.ts";

/** One stored rate: 1 `base` = `rate` `quote` from `effective_at`. */
export type StoredRate = { base: string; quote: string; rate: string; effective_at: Date };

/** The rate used for a conversion, with the stored rates it came from (for the explanation). */
export type FxRate = { from: string; to: string; value: Ratio; display: string; via: StoredRate[] };

export class FxRateMissingError extends Error {
  override readonly name = "FxRateMissingError";
  readonly code = "fx_rate_missing";
  constructor(
    readonly from: string,
    readonly to: string,
    readonly at: Date,
  ) {
    super(
      `no FX rate ${from}→${to} in force at ${at.toISOString()}; load one through admin (POST /v1/fx-rates)`,
    );
  }
}

const identity = (c: string): FxRate => ({ from: c, to: c, value: ONE, display: "1", via: [] });

/**
 * The rate in force at `at` (the latest effective at or before it) from `from` to `to`: the
 * stored pair, else its inverse, else across one common currency (EUR→USD and EUR→GBP give
 * USD→GBP). Exact fractions; the caller rounds the converted figure once.
 */
export async function rateAt(tx: Tx, from: string, to: string, at: Date): Promise<FxRate> {
  if (from === to) return identity(from);
  const rows = await tx<StoredRate[]>`
    select distinct on (base, quote) base, quote, rate::text as rate, effective_at
    from fx_rates
    where (base in (${from}, ${to}) or quote in (${from}, ${to})) and effective_at <= ${at}
    order by base, quote, effective_at desc`;
  const found = resolve(rows, from, to);
  if (!found) throw new FxRateMissingError(from, to, at);
  return { from, to, value: found.value, display: round(found.value, 12), via: found.via };
}

type Edge = { value: Ratio; via: StoredRate[] };

/** Pure: the conversion factor from `from` to `to` over at most two stored pairs. */
export function resolve(rows: StoredRate[], from: string, to: string): Edge | undefined {
  // factor(a → b) for every stored pair, both directions
  const edges = new Map<string, Edge>();
  for (const r of rows) {
    const value = ratio(r.rate);
    edges.set(`${r.base}>${r.quote}`, { value, via: [r] });
    if (!edges.has(`${r.quote}>${r.base}`))
      edges.set(`${r.quote}>${r.base}`, { value: div(ONE, value), via: [r] });
  }
  const direct = edges.get(`${from}>${to}`);
  if (direct) return direct;
  const pivots = new Set(rows.flatMap((r) => [r.base, r.quote]).filter((c) => c !== from && c !== to));
  for (const p of [...pivots].sort()) {
    const a = edges.get(`${from}>${p}`);
    const b = edges.get(`${p}>${to}`);
    if (a && b) return { value: mul(a.value, b.value), via: [...a.via, ...b.via] };
  }
  return undefined;
}
