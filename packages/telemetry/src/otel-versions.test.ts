import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..", "..");

/**
 * OpenTelemetry JS releases its packages in lock-step lines — the API (1.x), the stable SDK (core,
 * sdk-trace-base, context-async-hooks, resources …) and the experimental 0.x packages (sdk-node,
 * exporters) — and mixing releases across workspaces installs two SDKs whose context and span
 * types do not meet. Every workspace names one version per line.
 */
test("every workspace uses one OpenTelemetry version per release line", () => {
  const workspaces = [
    ...new Bun.Glob("{packages,services}/*/package.json").scanSync(ROOT),
    "test/package.json",
    "bench/package.json",
  ];
  const lines = new Map<string, Set<string>>();
  for (const file of workspaces) {
    const manifest = JSON.parse(readFileSync(join(ROOT, file), "utf8"));
    for (const [name, version] of Object.entries({
      ...manifest.dependencies,
      ...manifest.devDependencies,
    }) as [string, string][]) {
      if (!name.startsWith("@opentelemetry/")) continue;
      const line =
        name === "@opentelemetry/api" ? "api" : version.startsWith("0.") ? "experimental" : "stable";
      if (!lines.has(line)) lines.set(line, new Set());
      lines.get(line)?.add(`${version}`);
    }
  }
  expect(lines.size).toBeGreaterThan(0);
  for (const [line, versions] of lines) expect([...versions], line).toHaveLength(1);
});
