/**
 * Reads the JUnit XML `bun test --reporter=junit` writes, and bun's console summary, into counts.
 * No XML library: the format is small and fixed, and a malformed file must fail loudly, not count as zero.
 */

export type Outcome = "passed" | "failed" | "skipped";

export interface TestCase {
  name: string;
  classname: string;
  file: string | undefined;
  outcome: Outcome;
  /** The failure/error message, for failed cases. */
  message: string | undefined;
}

export interface JUnitSummary {
  passed: number;
  failed: number;
  skipped: number;
  cases: TestCase[];
}

export class JUnitParseError extends Error {
  override name = "JUnitParseError";
  readonly code = "junit_unparsable";
}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith("#x")) return String.fromCodePoint(Number.parseInt(ref.slice(2), 16));
    if (ref.startsWith("#")) return String.fromCodePoint(Number.parseInt(ref.slice(1), 10));
    return ENTITIES[ref] ?? whole;
  });
}

function attributes(source: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of source.matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
    out[m[1] as string] = decodeEntities(m[2] ?? m[3] ?? "");
  }
  return out;
}

/**
 * Count test cases: a `<failure>` or `<error>` inside a case makes it failed, `<skipped>` skipped
 * (todo tests are skipped too), anything else passed. Throws JUnitParseError on malformed XML.
 */
export function parseJUnit(xml: string): JUnitSummary {
  const body = xml
    .replace(/<\?[\s\S]*?\?>/g, "")
    .replace(/<!--[\s\S]*?-->/g, "")
    .replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, "");
  const stack: string[] = [];
  const cases: TestCase[] = [];
  let current: TestCase | undefined;
  let root: string | undefined;

  for (const m of body.matchAll(/<(\/?)([A-Za-z_][\w:.-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g)) {
    const [, closing, tag = "", attrSource = "", selfClosing] = m;
    if (closing) {
      const open = stack.pop();
      if (open !== tag) throw new JUnitParseError(`</${tag}> closes <${open ?? "nothing"}>`);
      if (tag === "testcase" && current) {
        cases.push(current);
        current = undefined;
      }
      continue;
    }
    if (stack.length === 0) {
      if (root !== undefined) throw new JUnitParseError(`second root element <${tag}>`);
      root = tag;
    }
    if (tag === "testcase") {
      if (current) throw new JUnitParseError("<testcase> inside <testcase>");
      const attrs = attributes(attrSource);
      current = {
        name: attrs.name ?? "",
        classname: attrs.classname ?? "",
        file: attrs.file,
        outcome: "passed",
        message: undefined,
      };
    } else if (current && (tag === "failure" || tag === "error")) {
      current.outcome = "failed";
      current.message ??= attributes(attrSource).message ?? tag;
    } else if (current && tag === "skipped" && current.outcome !== "failed") {
      current.outcome = "skipped";
    }
    if (selfClosing) {
      if (tag === "testcase" && current) {
        cases.push(current);
        current = undefined;
      }
    } else {
      stack.push(tag);
    }
  }

  if (root !== "testsuites" && root !== "testsuite") {
    throw new JUnitParseError(root ? `root element is <${root}>, not <testsuites>` : "no XML elements found");
  }
  if (stack.length > 0) throw new JUnitParseError(`unclosed <${stack.join("> <")}> (truncated file?)`);

  const count = (outcome: Outcome) => cases.filter((c) => c.outcome === outcome).length;
  return { passed: count("passed"), failed: count("failed"), skipped: count("skipped"), cases };
}

export interface ConsoleSummary {
  pass: number;
  fail: number;
  skip: number;
  todo: number;
  error: number;
}

/**
 * bun's closing summary (` 3 pass`, ` 1 fail`, ` 1 error`). It sees what the XML does not: a test
 * file that fails to load, or an error thrown between tests, is a failure with no <testcase>.
 */
export function parseConsoleSummary(output: string): ConsoleSummary | undefined {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping ANSI colour codes
  const text = output.replace(/\x1b\[[0-9;]*m/g, "");
  const summary: ConsoleSummary = { pass: 0, fail: 0, skip: 0, todo: 0, error: 0 };
  let seen = false;
  for (const m of text.matchAll(/^\s*(\d+) (pass|fail|skip|todo|errors?)\s*$/gm)) {
    const key = (m[2] as string).startsWith("error") ? "error" : (m[2] as keyof ConsoleSummary);
    summary[key] = Number(m[1]);
    seen = true;
  }
  return seen ? summary : undefined;
}

export interface Verdict {
  passed: number;
  failed: number;
  /** Why `failed` is more than the failed test cases in the XML, if it is. */
  notes: string[];
}

/** Final counts: the XML's, plus failures bun reported that have no test case (never fewer than bun saw). */
export function verdict(junit: JUnitSummary, console: ConsoleSummary | undefined, exitCode: number): Verdict {
  const notes: string[] = [];
  let failed = junit.failed;
  const unlisted = console ? console.fail - junit.failed : 0;
  if (unlisted > 0) {
    failed += unlisted;
    notes.push(
      `${unlisted} failure(s) are not in the JUnit report (a test file that failed to load, or an error between tests); see the output above`,
    );
  }
  if (failed === 0 && exitCode !== 0) {
    failed = 1;
    notes.push(`bun test exited with code ${exitCode} although no test failed; counted as one failure`);
  }
  return { passed: junit.passed, failed, notes };
}
