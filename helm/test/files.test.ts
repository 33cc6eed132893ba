// What the chart ships besides templates: documented values, and copies of deploy/ that must not drift.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CHART, REPO } from "./helm.ts";
import { README, readmeTableIsCurrent, valueDocs } from "./values-table.ts";

describe("values.yaml", () => {
  test("every value is documented with a `# --` comment where it is defined", () => {
    const { docs, missing } = valueDocs();
    expect(missing).toEqual([]);
    expect(docs.length).toBeGreaterThan(50);
  });

  test("helm/README.md carries the current values table", () => {
    if (!readmeTableIsCurrent(readFileSync(README, "utf8"))) {
      throw new Error("helm/README.md values table is stale: run bun helm/test/values-table.ts --write");
    }
  });
});

describe("copies of deploy/ inside the chart (helm package does not follow symlinks)", () => {
  test("files/prometheus/rules.yml is byte-identical to deploy/prometheus/rules.yml", () => {
    const canonical = readFileSync(join(REPO, "deploy", "prometheus", "rules.yml"), "utf8");
    const copy = readFileSync(join(CHART, "files", "prometheus", "rules.yml"), "utf8");
    if (copy !== canonical) {
      throw new Error("stale copy: cp deploy/prometheus/rules.yml helm/roundtrip/files/prometheus/rules.yml");
    }
  });

  test("files/dashboards/*.json are byte-identical to deploy/grafana/*.json", () => {
    const names = (dir: string) => [...new Bun.Glob("*.json").scanSync(dir)].sort();
    const canonicalDir = join(REPO, "deploy", "grafana");
    const copyDir = join(CHART, "files", "dashboards");
    expect(names(copyDir)).toEqual(names(canonicalDir));
    for (const file of names(canonicalDir)) {
      if (readFileSync(join(copyDir, file), "utf8") !== readFileSync(join(canonicalDir, file), "utf8")) {
        throw new Error(`stale copy of ${file}: run bun deploy/grafana/generate.ts`);
      }
    }
  });
});
