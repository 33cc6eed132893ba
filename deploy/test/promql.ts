// PromQL helpers shared by the dashboard and rule tests (and the lead's stack test): the metric
// names docs/internals.md allows, the metric names an expression uses, the queries of every
// dashboard, and Grafana variable substitution.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const REPO = join(import.meta.dir, "..", "..");
export const GRAFANA_DIR = join(REPO, "deploy", "grafana");

// prom-client's collectDefaultMetrics() on Linux, and the series Prometheus adds per target.
export const DEFAULT_METRICS = [
  "process_cpu_user_seconds_total",
  "process_cpu_system_seconds_total",
  "process_cpu_seconds_total",
  "process_start_time_seconds",
  "process_resident_memory_bytes",
  "process_virtual_memory_bytes",
  "process_heap_bytes",
  "process_open_fds",
  "process_max_fds",
  "nodejs_eventloop_lag_seconds",
  "nodejs_eventloop_lag_min_seconds",
  "nodejs_eventloop_lag_max_seconds",
  "nodejs_eventloop_lag_mean_seconds",
  "nodejs_eventloop_lag_stddev_seconds",
  "nodejs_eventloop_lag_p50_seconds",
  "nodejs_eventloop_lag_p90_seconds",
  "nodejs_eventloop_lag_p99_seconds",
  "nodejs_active_resources",
  "nodejs_active_resources_total",
  "nodejs_active_handles",
  "nodejs_active_handles_total",
  "nodejs_active_requests",
  "nodejs_active_requests_total",
  "nodejs_heap_size_total_bytes",
  "nodejs_heap_size_used_bytes",
  "nodejs_external_memory_bytes",
  "nodejs_heap_space_size_total_bytes",
  "nodejs_heap_space_size_used_bytes",
  "nodejs_heap_space_size_available_bytes",
  "nodejs_version_info",
  "nodejs_gc_duration_seconds_bucket",
  "nodejs_gc_duration_seconds_sum",
  "nodejs_gc_duration_seconds_count",
  "up",
];

export interface InternalsMetric {
  name: string;
  type: "counter" | "gauge" | "histogram";
}

/** The metrics table of docs/internals.md. */
export function internalsMetrics(): InternalsMetric[] {
  const text = readFileSync(join(REPO, "docs", "internals.md"), "utf8");
  const metrics: InternalsMetric[] = [];
  for (const m of text.matchAll(/^\| `(roundtrip_[a-z0-9_]+)` \| (counter|gauge|histogram) \|/gm)) {
    metrics.push({ name: m[1] ?? "", type: m[2] as InternalsMetric["type"] });
  }
  return metrics;
}

/** Recording rule names fixed by docs/internals.md. */
export function internalsRecordingRules(): string[] {
  const text = readFileSync(join(REPO, "docs", "internals.md"), "utf8");
  return [...text.matchAll(/`(roundtrip:[a-z0-9_:]+)`/g)].map((m) => m[1] ?? "");
}

/** Series names a query may select: internals metrics (histograms as _bucket/_sum/_count) and defaults. */
export function allowedMetricNames(): Set<string> {
  const names = new Set(DEFAULT_METRICS);
  for (const m of internalsMetrics()) {
    if (m.type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(m.name + s);
    else names.add(m.name);
  }
  return names;
}

const KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "bool",
  "offset",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "inf",
  "nan",
]);

/** Metric names selected by a PromQL expression (a small lexer, not a parser: enough for our queries). */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/\{[^}]*\}/g, " ") // label matchers
    .replace(/\[[^\]]*\]/g, " ") // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, " ") // label lists
    .replace(/(^|[^A-Za-z_:])[0-9.]+(e[+-]?[0-9]+)?(ms|s|m|h|d|w|y)?\b/gi, "$1 "); // numbers, durations
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?/g)) {
    const word = m[0].replace(/\s*\($/, "");
    if (m[1] !== undefined || KEYWORDS.has(word.toLowerCase())) continue; // a function or aggregation
    names.add(word);
  }
  return [...names];
}

// ---- dashboards --------------------------------------------------------------------------------

export interface DashboardQuery {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
}

export interface GrafanaTarget {
  expr: string;
  refId: string;
  datasource?: unknown;
}

export interface GrafanaPanel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: unknown;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: GrafanaTarget[];
  panels?: GrafanaPanel[];
}

export interface GrafanaVariable {
  name: string;
  type: string;
  query?: string | { query: string };
}

export interface GrafanaDashboard {
  uid: string;
  title: string;
  tags: string[];
  panels: GrafanaPanel[];
  templating: { list: GrafanaVariable[] };
}

export interface Dashboard {
  file: string;
  json: GrafanaDashboard;
}

export function loadDashboards(dir = GRAFANA_DIR): Dashboard[] {
  return [...new Bun.Glob("*.json").scanSync(dir)]
    .sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(join(dir, file), "utf8")) as GrafanaDashboard }));
}

/** Panels, including those nested in collapsed rows. */
export function panelsOf(dashboard: GrafanaDashboard): GrafanaPanel[] {
  return (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every panel query of every dashboard (rows excluded: they hold no query). */
export function dashboardQueries(dir = GRAFANA_DIR): DashboardQuery[] {
  return loadDashboards(dir).flatMap(({ file, json }) =>
    panelsOf(json)
      .filter((p) => p.type !== "row")
      .flatMap((p) =>
        (p.targets ?? []).map((t) => ({ dashboard: file, panel: p.title, refId: t.refId, expr: t.expr })),
      ),
  );
}

/** Template-variable queries; `label_values(selector, label)` yields its selector, which is PromQL. */
export function variableSelectors(dir = GRAFANA_DIR): DashboardQuery[] {
  return loadDashboards(dir).flatMap(({ file, json }) =>
    json.templating.list.flatMap((v) => {
      if (v.type !== "query" || v.query === undefined) return [];
      const query = typeof v.query === "string" ? v.query : v.query.query;
      const m = /^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$/.exec(query);
      return [
        { dashboard: file, panel: `variable ${v.name}`, refId: v.name, expr: m ? (m[1] ?? "") : query },
      ];
    }),
  );
}

/** Grafana's built-in interval variables, and dashboard variables at their "All" value. */
export const DEFAULT_VARIABLES: Record<string, string> = {
  __rate_interval: "1m",
  __interval: "15s",
  __range: "1h",
  __range_s: "3600",
  namespace: ".*",
  instance: ".*",
  service: ".*",
};

/** Substitutes `$name`, `${name}` and `${name:format}` the way Grafana would before querying. */
export function expandVariables(expr: string, vars: Record<string, string> = {}): string {
  const all = { ...DEFAULT_VARIABLES, ...vars };
  return expr.replace(
    /\$\{(\w+)(?::\w+)?\}|\$(\w+)/g,
    (whole, braced: string | undefined, bare: string | undefined) => {
      const name = braced ?? bare ?? "";
      const value = all[name];
      if (value === undefined) throw new Error(`unknown dashboard variable ${whole} in: ${expr}`);
      return value;
    },
  );
}
