import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { JUnitParseError, parseConsoleSummary, parseJUnit, verdict } from "./junit.ts";

const sample = readFileSync(resolve(import.meta.dir, "fixtures", "junit-sample.xml"), "utf8");

describe("parseJUnit", () => {
  test("counts passed, failed (failure and error) and skipped (skip and todo) test cases", () => {
    const summary = parseJUnit(sample);
    expect({ passed: summary.passed, failed: summary.failed, skipped: summary.skipped }).toEqual({
      passed: 4,
      failed: 2,
      skipped: 2,
    });
    expect(summary.cases).toHaveLength(8);
  });

  test("decodes names and keeps the failure message", () => {
    const failed = parseJUnit(sample).cases.filter((c) => c.outcome === "failed");
    expect(failed.map((c) => c.name)).toEqual(["fails <&>", "after"]);
    expect(failed[0]?.message).toStartWith("expect(received).toBe(expected)\n");
    expect(failed[1]?.message).toBe("late boom");
    expect(parseJUnit(sample).cases.at(-1)?.name).toBe('quoted "gt" > in attr');
  });

  test("an empty run is zero of everything", () => {
    expect(parseJUnit('<?xml version="1.0"?><testsuites name="bun test" tests="0"></testsuites>')).toEqual({
      passed: 0,
      failed: 0,
      skipped: 0,
      cases: [],
    });
  });

  test.each([
    ["a truncated file", sample.slice(0, sample.length / 2)],
    ["an empty file", ""],
    ["not JUnit", "<html><body>502</body></html>"],
    ["mismatched tags", "<testsuites><testsuite></testsuites></testsuite>"],
  ])("rejects %s", (_label, xml) => {
    expect(() => parseJUnit(xml)).toThrow(JUnitParseError);
  });
});

describe("parseConsoleSummary", () => {
  test("reads bun's closing counts, colours or not", () => {
    const output =
      "(pass) x\n\n\x1b[32m 3 pass\x1b[0m\n 1 skip\n 1 todo\n\x1b[31m 3 fail\x1b[0m\n 1 error\n 2 expect() calls\n";
    expect(parseConsoleSummary(output)).toEqual({ pass: 3, fail: 3, skip: 1, todo: 1, error: 1 });
    expect(parseConsoleSummary("no summary here")).toBeUndefined();
  });
});

describe("verdict", () => {
  const junit = parseJUnit(sample);

  test("the XML counts when bun agrees", () => {
    expect(verdict(junit, { pass: 4, fail: 2, skip: 1, todo: 1, error: 0 }, 1)).toEqual({
      passed: 4,
      failed: 2,
      notes: [],
    });
  });

  test("a test file that failed to load (no test case in the XML) still counts as failed", () => {
    const result = verdict(junit, { pass: 4, fail: 3, skip: 1, todo: 1, error: 1 }, 1);
    expect(result.failed).toBe(3);
    expect(result.notes[0]).toContain("not in the JUnit report");
  });

  test("a non-zero exit with nothing failed is one failure", () => {
    const clean = parseJUnit('<testsuites><testcase name="a" /></testsuites>');
    expect(verdict(clean, undefined, 1)).toMatchObject({ passed: 1, failed: 1 });
    expect(verdict(clean, undefined, 0)).toEqual({ passed: 1, failed: 0, notes: [] });
  });
});
