// Grafana dashboards: generated output committed, well-formed, only known metric names, and every
// query accepted by a real Prometheus.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { dashboards, OUTPUT_DIRS, SERVICES } from "../grafana/generate.ts";
import { type Prometheus, startPrometheus } from "./prometheus.ts";
import {
  allowedMetricNames,
  dashboardQueries,
  expandVariables,
  loadDashboards,
  metricNames,
  panelsOf,
  variableSelectors,
} from "./promql.ts";

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template.
const DATASOURCE = { type: "prometheus", uid: "${datasource}" };
const loaded = loadDashboards();
const queries = dashboardQueries();

describe("generated dashboards", () => {
  test("the committed files equal the generator's output, in deploy/grafana and in the chart", () => {
    const generated = dashboards();
    for (const dir of OUTPUT_DIRS) {
      const committed = [...new Bun.Glob("*.json").scanSync(dir)].sort();
      expect(committed).toEqual([...generated.keys()].sort());
      for (const [file, text] of generated) {
        const actual = readFileSync(join(dir, file), "utf8");
        if (actual !== text)
          throw new Error(`${join(dir, file)} is stale: run bun deploy/grafana/generate.ts`);
      }
    }
  });

  test("an overview, a pipeline and one RED dashboard per service", () => {
    expect(loaded.map((d) => d.file)).toEqual(
      [
        "roundtrip-overview.json",
        "roundtrip-pipeline.json",
        ...SERVICES.map((s) => `roundtrip-service-${s}.json`),
      ].sort(),
    );
  });
});

describe.each(loaded.map((d) => [d.file, d.json] as const))("%s", (_file, json) => {
  const panels = panelsOf(json).filter((p) => p.type !== "row");

  test("has a uid, a title, the roundtrip tag and a datasource variable", () => {
    expect(json.uid).toMatch(/^roundtrip-[a-z-]+$/);
    expect(json.uid.length).toBeLessThanOrEqual(40); // Grafana's uid limit
    expect(json.title).toStartWith("Roundtrip / ");
    expect(json.tags).toContain("roundtrip");
    const ds = json.templating.list.find((v: { name: string }) => v.name === "datasource");
    expect(ds).toMatchObject({ type: "datasource", query: "prometheus" });
  });

  test("every panel has a query on the datasource variable", () => {
    expect(panels.length).toBeGreaterThan(3);
    for (const p of panels) {
      expect(p.datasource).toEqual(DATASOURCE);
      const targets = p.targets ?? [];
      expect(targets.length).toBeGreaterThan(0);
      for (const t of targets) {
        expect(typeof t.expr).toBe("string");
        expect(t.expr.trim().length).toBeGreaterThan(0);
        expect(t.datasource).toEqual(DATASOURCE);
      }
      expect(p.description ?? "").not.toBe("");
    }
  });

  test("panel ids are unique and the grid has no overlaps", () => {
    const all = panelsOf(json);
    expect(new Set(all.map((p) => p.id)).size).toBe(all.length);
    const taken = new Set<string>();
    for (const p of all) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          const cell = `${i},${j}`;
          if (taken.has(cell)) throw new Error(`panel "${p.title}" overlaps another at ${cell}`);
          taken.add(cell);
        }
      }
    }
  });

  test("queries use only variables the dashboard defines (or Grafana's built-ins)", () => {
    const defined = new Set(json.templating.list.map((v) => v.name));
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        for (const m of t.expr.matchAll(/\$\{?(\w+)/g)) {
          const name = m[1] as string;
          if (!name.startsWith("__")) expect(defined.has(name)).toBe(true);
        }
      }
    }
  });
});

describe("metric names", () => {
  const allowed = allowedMetricNames();

  test("docs/internals.md lists the metrics (the parse found them)", () => {
    expect(allowed.has("roundtrip_postbacks_total")).toBe(true);
    expect(allowed.has("roundtrip_http_request_duration_seconds_bucket")).toBe(true);
    expect(allowed.has("roundtrip_outbox_oldest_age_seconds")).toBe(true);
  });

  test("the lexer finds metric names and skips functions, labels and keywords", () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{service="x", le=~"0.5"}[5m]))) / on() group_left b offset 5m or vector(0) * 3600',
      ).sort(),
    ).toEqual(["a_bucket", "b"]);
  });

  test("every dashboard query uses only metric names from docs/internals.md, prom-client defaults and up", () => {
    const unknown = [...queries, ...variableSelectors()].flatMap((q) =>
      metricNames(q.expr)
        .filter((n) => !allowed.has(n))
        .map((n) => `${q.dashboard} / ${q.panel}: ${n}`),
    );
    expect(unknown).toEqual([]);
  });

  test("every metric of docs/internals.md is on some dashboard", () => {
    const used = new Set(queries.flatMap((q) => metricNames(q.expr)));
    const unused = [...allowed].filter(
      (n) => n.startsWith("roundtrip_") && !n.match(/_(sum|count)$/) && !used.has(n),
    );
    expect(unused).toEqual([]);
  });
});

describe("every dashboard query is valid PromQL for a real Prometheus", () => {
  let prom: Prometheus;

  beforeAll(async () => {
    prom = await startPrometheus();
  }, 60_000);

  afterAll(async () => {
    await prom?.stop();
  });

  test("panel queries and variable selectors evaluate with status success", async () => {
    const checked = [...queries, ...variableSelectors()];
    expect(checked.length).toBeGreaterThan(100);
    const failures: string[] = [];
    for (const q of checked) {
      const expr = expandVariables(q.expr);
      const r = await prom.query(expr);
      if (r.status !== "success")
        failures.push(`${q.dashboard} / ${q.panel} (${q.refId}): ${r.error}\n  ${expr}`);
    }
    expect(failures).toEqual([]);
  }, 60_000);

  test("a broken query is reported as an error (the check has teeth)", async () => {
    const r = await prom.query(expandVariables("sum by (le (rate(x[$__rate_interval]))"));
    expect(r.status).toBe("error");
    expect(r.errorType).toBe("bad_data");
  });
});
