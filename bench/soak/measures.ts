/**
 * What each measure is and how it is judged: its absolute floor (a rise below it is noise, see
 * verdict.ts) and whether it must stay flat at all. The soak's samples are name → value maps; the
 * name says the unit.
 */
import { DEFAULT_RULE, judge, type Verdict, type VerdictRule } from "./verdict.ts";

export type MeasureSpec = {
  /** Rise across the judged window below which a trend is noise (in the measure's unit). */
  floor: number;
  /** False: printed and trended, but not expected to be flat (rates, tables kept for days). */
  judged: boolean;
  note?: string;
};

/**
 * Tables whose rows are kept longer than any soak: they grow for the whole run by design, so
 * their trend is reported (rows a minute, beside the intake rate) but not judged. The replay store
 * keeps a signature only for its timestamp tolerance (300 s), so it must level off and is judged.
 */
const RETAINED: Record<string, string> = {
  "rows outbox": "settled events kept 1 day",
  "rows inbox": "kept 7 days",
  "rows request log": "daily partitions, never dropped",
};

/** `floorScale` widens every floor (a loaded CI machine); the shape of the rule stays. */
export function specFor(name: string, floorScale = 1): MeasureSpec {
  const f = (x: number) => x * floorScale;
  if (name in RETAINED) return { floor: 0, judged: false, note: RETAINED[name] };
  if (name.endsWith("/s") || name.endsWith(" count") || name.endsWith(" cores"))
    return { floor: 0, judged: false, note: "rate" };
  if (name.endsWith(" ms")) return { floor: f(25), judged: true };
  if (name.startsWith("rss ")) return { floor: f(48), judged: true };
  if (name.startsWith("rows ")) return { floor: f(10_000), judged: true };
  if (name.startsWith("lag ") || name.startsWith("owed ")) {
    if (name.endsWith(" s")) return { floor: f(name.startsWith("owed age") ? 5 : 2), judged: true };
    return { floor: f(2_000), judged: true };
  }
  if (name.endsWith(" s")) return { floor: f(2), judged: true };
  return { floor: 0, judged: false };
}

/** A reading absent from a sample means none of it (no owed row of that stream, no consumer yet). */
function absentMeansZero(name: string): boolean {
  return name.startsWith("owed ") || name.startsWith("lag ");
}

export type Sample = { at: number; values: Record<string, number> };

export type MeasureVerdict = Verdict & { name: string; spec: MeasureSpec; series: number[] };

export function judgeAll(samples: readonly Sample[], floorScale = 1, rule: VerdictRule = DEFAULT_RULE) {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.values)))].sort();
  return names.map((name): MeasureVerdict => {
    const series = samples.map((s) => s.values[name] ?? (absentMeansZero(name) ? 0 : Number.NaN));
    const spec = specFor(name, floorScale);
    const verdict = judge(series, spec.floor, rule);
    return { ...verdict, growing: spec.judged && verdict.growing, name, spec, series };
  });
}

/** The soak's last line: `soak: flat` or `soak: growing: <measures>`. */
export function verdictLine(verdicts: readonly MeasureVerdict[]): string {
  const grew = verdicts.filter((v) => v.growing).map((v) => v.name);
  return grew.length === 0 ? "soak: flat" : `soak: growing: ${grew.join(", ")}`;
}
