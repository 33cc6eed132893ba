/**
 * The soak: sustained mixed load against the six real services, one reading a minute, a verdict
 * per measure and the exactness check at the end (bench/README.md, "Soak"). The last line is
 * `soak: flat` or `soak: growing: <measures>`; the exit code is 1 when a measure grew or a
 * promise broke (an acknowledged postback not converted, booked and delivered exactly once, or a
 * redirected click not stored).
 *
 *   bun bench/soak.ts [--minutes 10] [--clicks 5000] [--postbacks 500] [--duplicates 0.05]
 *                     [--sample-seconds 60] [--drain-seconds 300] [--floor-scale 1]
 *                     [--endpoints ok,ok,slow:250,failing:0.1]
 */
import { parseArgs } from "node:util";
import type { EndpointKind } from "./soak/endpoints.ts";
import { runSoak } from "./soak/run-soak.ts";

const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    clicks: { type: "string", default: "5000" },
    postbacks: { type: "string", default: "500" },
    duplicates: { type: "string", default: "0.05" },
    "sample-seconds": { type: "string", default: "60" },
    "drain-seconds": { type: "string", default: "300" },
    "floor-scale": { type: "string", default: "1" },
    endpoints: { type: "string", default: "ok,ok,slow:250,failing:0.1" },
  },
});

function number(name: keyof typeof args): number {
  const v = Number(args[name]);
  if (!Number.isFinite(v) || v < 0) {
    console.error(`--${name}: expected a non-negative number, got ${args[name]}`);
    process.exit(2);
  }
  return v;
}

function parseEndpoints(spec: string): EndpointKind[] {
  return spec.split(",").map((part): EndpointKind => {
    const [kind, arg] = part.split(":");
    if (kind === "ok") return { kind: "ok" };
    if (kind === "slow") return { kind: "slow", delayMs: Number(arg ?? 250) };
    if (kind === "failing") return { kind: "failing", share: Number(arg ?? 0.1) };
    console.error(`--endpoints: expected ok, slow:<ms> or failing:<share>, got ${part}`);
    return process.exit(2);
  });
}

const result = await runSoak({
  durationMs: number("minutes") * 60_000,
  sampleEveryMs: number("sample-seconds") * 1000,
  clicksPerSecond: number("clicks"),
  postbacksPerSecond: number("postbacks"),
  duplicateShare: number("duplicates"),
  drainTimeoutMs: number("drain-seconds") * 1000,
  floorScale: number("floor-scale"),
  endpoints: parseEndpoints(args.endpoints as string),
});
const exact = result.audit.problems.length === 0 && result.clicks.exact;
process.exit(exact && result.line === "soak: flat" ? 0 : 1);
