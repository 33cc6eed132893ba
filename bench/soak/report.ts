/** How the soak prints a reading and the verdicts (one place for the format). */
import type { MeasureVerdict, Sample } from "./measures.ts";

function fmt(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 100 || Number.isInteger(v)) return v.toFixed(0);
  return v.toFixed(a >= 10 ? 1 : 2);
}

/** Measures whose names start with `prefix`, as `rest value` pairs. */
function group(values: Record<string, number>, prefix: string, suffix = ""): string {
  return Object.entries(values)
    .filter(([k]) => k.startsWith(prefix))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k.slice(prefix.length, suffix ? -suffix.length : undefined)} ${fmt(v)}`)
    .join(", ");
}

export function printSample(log: (line: string) => void, index: number, s: Sample): void {
  const v = s.values;
  const owed = Object.keys(v)
    .filter((k) => k.startsWith("owed ") && !k.startsWith("owed age "))
    .sort()
    .map((k) => `${k.slice(5)} ${fmt(v[k])} (${fmt(v[`owed age ${k.slice(5)} s`])} s)`)
    .join(", ");
  const clicksBehind = v["clicks not sent on time count"] ?? 0;
  const postbacksBehind = v["postbacks not sent on time count"] ?? 0;
  const behind =
    clicksBehind || postbacksBehind
      ? ` · not sent on time (too many waiting): ${fmt(clicksBehind)} clicks, ${fmt(postbacksBehind)} postbacks`
      : "";
  log(
    `[${index}] redirects ${fmt(v["redirects/s"])}/s p99 ${fmt(v["redirect p99 ms"])} ms · postbacks ${fmt(v["postbacks/s"])}/s p99 ${fmt(v["postback p99 ms"])} ms · ` +
      `postback → affiliate p50 ${fmt(v["e2e p50 ms"])} p99 ${fmt(v["e2e p99 ms"])} ms (${fmt(v["e2e count"])}; healthy endpoints p99 ${fmt(v["e2e healthy p99 ms"])} ms) · stored-click lag ${fmt(v["stored-click lag s"])} s · errors ${fmt(v["errors count"])}${behind}`,
  );
  log(`    consumer lag (msgs): ${group(v, "lag ", " msgs")}`);
  log(`    owed outbox events (oldest): ${owed || "none"}`);
  log(`    rows: ${group(v, "rows ")} · RSS MB: ${group(v, "rss ", " MB")}`);
  log(`    CPU (cores): ${group(v, "cpu ", " cores")}`);
}

export function printVerdicts(log: (line: string) => void, verdicts: readonly MeasureVerdict[]): void {
  log(
    "soak: verdicts (rise = Theil–Sen slope × judged window; growing when rise > allowed = max(25 % of level, floor))",
  );
  for (const v of verdicts) {
    const status = !v.spec.judged ? `not judged (${v.spec.note})` : v.growing ? "GROWING" : "flat";
    log(
      `  ${v.name.padEnd(34)} level ${fmt(v.level).padStart(7)}  rise ${fmt(v.rise).padStart(7)}  allowed ${fmt(v.allowed).padStart(7)}  ${status}${v.note ? ` (${v.note})` : ""}`,
    );
  }
}

/**
 * The CPU each process used for the load it carried, per 1,000 redirects a second at the mix the
 * run achieved (a starved generator may carry fewer clicks than asked, so the mix is measured, not
 * assumed): what capacity planning (docs/scaling.md) multiplies.
 */
export function printCpuPerLoad(log: (line: string) => void, samples: readonly Sample[]): void {
  const mean = (name: string) => {
    const xs = samples.map((s) => s.values[name]).filter((v): v is number => Number.isFinite(v));
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
  };
  const redirects = mean("redirects/s");
  const postbacks = mean("postbacks/s");
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.values)))].filter((k) =>
    k.startsWith("cpu "),
  );
  const per = names
    .sort()
    .map((k) => `${k.slice(4, -6)} ${fmt((1000 * mean(k)) / redirects)}`)
    .join(", ");
  log(
    `soak: CPU cores per 1,000 redirects/s (+ ${fmt((1000 * postbacks) / redirects)} postbacks/s, the mix achieved: ` +
      `${fmt(redirects)} redirects/s and ${fmt(postbacks)} postbacks/s on average): ${per}`,
  );
}
