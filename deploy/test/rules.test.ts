// Prometheus rules and the local scrape config: promtool checks and unit tests, naming conventions,
// and a test case on both sides of every rule.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { APT_HINT } from "./prometheus.ts";
import { allowedMetricNames, internalsRecordingRules, metricNames, REPO } from "./promql.ts";

const DIR = join(REPO, "deploy", "prometheus");
const RULES = join(DIR, "rules.yml");
const RULE_TESTS = join(DIR, "rules.test.yml");
const SCRAPE = join(DIR, "prometheus.yml");

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const groups: { name: string; rules: Rule[] }[] = parse(readFileSync(RULES, "utf8")).groups;
const rules = groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert !== undefined);
const records = rules.filter((r) => r.record !== undefined);

/** Runs promtool; fails (never skips) when it is not installed. */
function promtool(args: string[]): { code: number; output: string } {
  const bin = Bun.which("promtool");
  if (!bin) throw new Error(`promtool not found on PATH — ${APT_HINT}`);
  const p = Bun.spawnSync([bin, ...args], { cwd: DIR });
  return { code: p.exitCode ?? -1, output: p.stdout.toString() + p.stderr.toString() };
}

describe("promtool", () => {
  test("check rules", () => {
    const r = promtool(["check", "rules", RULES]);
    if (r.code !== 0) throw new Error(r.output);
    expect(r.output).toContain(`SUCCESS: ${rules.length} rules found`);
  }, 30_000);

  // The anomaly alerts compare with a trailing day, so their tests evaluate 28 hours of rules.
  test("test rules (unit tests of every rule)", () => {
    const r = promtool(["test", "rules", RULE_TESTS]);
    if (r.code !== 0) throw new Error(r.output);
    expect(r.output).toContain("SUCCESS");
  }, 180_000);

  test("check config of the local scrape config (loads rules.yml too)", () => {
    const r = promtool(["check", "config", SCRAPE]);
    if (r.code !== 0) throw new Error(r.output);
    expect(r.output).toContain("SUCCESS");
  }, 30_000);
});

describe("rules.yml", () => {
  test("records the recording rules docs/internals.md names", () => {
    const fixed = internalsRecordingRules();
    expect(fixed).toEqual([
      "roundtrip:postback_success:ratio_rate5m",
      "roundtrip:delivery_success:ratio_rate5m",
    ]);
    for (const name of fixed) expect(records.map((r) => r.record)).toContain(name);
  });

  test("recording rule names follow level:metric:operations", () => {
    for (const r of records) expect(r.record).toMatch(/^roundtrip:[a-z0-9_]+:[a-z0-9_]+$/);
  });

  test("has the alerts of the issue", () => {
    for (const name of [
      "RoundtripPostbackSuccessRateLow",
      "RoundtripDeliveryFailureRateHigh",
      "RoundtripConsumerLagGrowing",
      "RoundtripDeadLettersAppearing",
      "RoundtripClickLatencyHigh",
      "RoundtripServiceDown",
    ]) {
      expect(alerts.map((a) => a.alert)).toContain(name);
    }
  });

  test("alerts: CamelCase with the Roundtrip prefix, a severity, a summary and a description", () => {
    for (const a of alerts) {
      expect(a.alert).toMatch(/^Roundtrip([A-Z][a-z0-9]+)+$/);
      expect(["critical", "warning", "info"]).toContain(a.labels?.severity as string);
      expect(a.annotations?.summary?.length).toBeGreaterThan(10);
      expect(a.annotations?.description?.length).toBeGreaterThan(20);
    }
  });

  test("the postback alert fires below 98 %", () => {
    const a = alerts.find((r) => r.alert === "RoundtripPostbackSuccessRateLow");
    expect(a?.expr).toContain("roundtrip:postback_success:ratio_rate5m < 0.98");
  });

  test("click latency is the p99 of roundtrip_http_request_duration_seconds for service=click", () => {
    const a = alerts.find((r) => r.alert === "RoundtripClickLatencyHigh") as Rule;
    const recorded = records.find((r) => a.expr.includes(r.record as string)) as Rule;
    expect(a.expr).toContain('service="click"');
    expect(recorded.expr).toContain("histogram_quantile(0.99");
    expect(recorded.expr).toContain("roundtrip_http_request_duration_seconds_bucket");
  });

  test("expressions use only docs/internals.md metrics, up, and recording rules defined here", () => {
    const allowed = new Set([...allowedMetricNames(), ...records.map((r) => r.record as string)]);
    const unknown = rules.flatMap((r) =>
      metricNames(r.expr)
        .filter((n) => !allowed.has(n))
        .map((n) => `${r.alert ?? r.record}: ${n}`),
    );
    expect(unknown).toEqual([]);
  });
});

describe("rules.test.yml covers every rule", () => {
  interface AlertTest {
    alertname: string;
    exp_alerts: unknown[] | null;
  }
  const tests: { alert_rule_test?: AlertTest[]; promql_expr_test?: { expr: string }[] }[] = parse(
    readFileSync(RULE_TESTS, "utf8"),
  ).tests;
  const alertTests = tests.flatMap((t) => t.alert_rule_test ?? []);
  const exprTests = tests.flatMap((t) => t.promql_expr_test ?? []);

  test.each(alerts.map((a) => a.alert as string))("%s has a firing and a not-firing case", (name) => {
    const cases = alertTests.filter((t) => t.alertname === name);
    expect(cases.some((t) => (t.exp_alerts ?? []).length > 0)).toBe(true);
    expect(cases.some((t) => (t.exp_alerts ?? []).length === 0)).toBe(true);
  });

  test.each(records.map((r) => r.record as string))("%s is evaluated by a test", (name) => {
    expect(exprTests.some((t) => t.expr.includes(name))).toBe(true);
  });

  test("it loads rules.yml and orders recording rules before alerts", () => {
    const file = parse(readFileSync(RULE_TESTS, "utf8"));
    expect(file.rule_files).toEqual(["rules.yml"]);
    expect(file.group_eval_order).toEqual(groups.map((g) => g.name));
  });
});

describe("prometheus.yml (local stack)", () => {
  const config = parse(readFileSync(SCRAPE, "utf8"));
  const internals = readFileSync(join(REPO, "docs", "internals.md"), "utf8");
  const ports = Object.fromEntries(
    [...internals.matchAll(/^\| (\w+) \| `bun services\/\w+\/src\/index\.ts` \| (\d+) \|/gm)].map((m) => [
      m[1],
      m[2],
    ]),
  );

  test("one job per service, on 127.0.0.1 at the default port of docs/internals.md, labelled service=<name>", () => {
    expect(Object.keys(ports).length).toBe(6);
    const jobs = config.scrape_configs as {
      job_name: string;
      metrics_path: string;
      static_configs: { targets: string[]; labels: Record<string, string> }[];
    }[];
    expect(jobs.length).toBe(6);
    for (const [service, port] of Object.entries(ports)) {
      const job = jobs.find((j) => j.job_name === `roundtrip-${service}`);
      expect(job?.metrics_path).toBe("/metrics");
      expect(job?.static_configs).toEqual([{ targets: [`127.0.0.1:${port}`], labels: { service } }]);
    }
  });

  test("loads the rules", () => {
    expect(config.rule_files).toEqual(["rules.yml"]);
  });
});

describe("runbooks", () => {
  // GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
  const anchors = new Set(
    readFileSync(join(REPO, "docs", "runbooks.md"), "utf8")
      .split("\n")
      .filter((line) => /^#{1,6} /.test(line))
      .map((line) =>
        line
          .replace(/^#+ /, "")
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N} _-]/gu, "")
          .replace(/ /g, "-"),
      ),
  );

  test("every alert has a runbook_url naming a section of docs/runbooks.md that exists", () => {
    const wrong = alerts
      .map((a) => ({ alert: a.alert, url: a.annotations?.runbook_url ?? "" }))
      .filter(({ url }) => {
        const [file, anchor] = url.split("#");
        return file !== "docs/runbooks.md" || !anchor || !anchors.has(anchor);
      });
    expect(wrong).toEqual([]);
    expect(alerts.length).toBeGreaterThan(0);
  });
});
