/**
 * `bun run test [bun test args…]`: every test in the repository, with the console output as usual,
 * a JUnit report in test-results/junit.xml, and a last line `N passed, N failed` taken from it.
 *
 * TEST_RUN_ID (random unless already set) is exported to the tests, so each run derives its own
 * database and stream-prefix names and never collides with another run.
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { JUnitParseError, parseConsoleSummary, parseJUnit, verdict } from "./junit.ts";

const root = resolve(import.meta.dir, "..");
const reportDir = join(root, "test-results");
const report = join(reportDir, "junit.xml");
const KEEP_OUTPUT_CHARS = 64 * 1024;

function randomRunId(): string {
  return `t${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
}

/** Copy a child's stream to ours as it comes, keeping the end of it for the summary. */
async function tee(stream: ReadableStream<Uint8Array>, out: NodeJS.WriteStream, kept: { text: string }) {
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    out.write(value);
    kept.text = (kept.text + decoder.decode(value, { stream: true })).slice(-KEEP_OUTPUT_CHARS);
  }
}

function finish(passed: number, failed: number): never {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

const { TEST_RUN_ID, NO_COLOR } = process.env;
const runId = TEST_RUN_ID || randomRunId();
mkdirSync(reportDir, { recursive: true });
rmSync(report, { force: true });

const cmd = [
  process.execPath,
  "test",
  // Services a test started die with the run, even when a test forgets to stop them.
  "--no-orphans",
  // End-to-end tests wait for real processes and real deliveries; bun's 5 s default is for unit tests.
  "--timeout=60000",
  "--reporter=junit",
  `--reporter-outfile=${report}`,
  ...process.argv.slice(2),
];
console.log(`TEST_RUN_ID=${runId}`);
const child = Bun.spawn({
  cmd,
  cwd: root,
  env: {
    ...process.env,
    TEST_RUN_ID: runId,
    ...(process.stdout.isTTY && !NO_COLOR ? { FORCE_COLOR: "1" } : {}),
  },
  stdin: "inherit",
  stdout: "pipe",
  stderr: "pipe",
});
const output = { text: "" };
await Promise.all([tee(child.stdout, process.stdout, output), tee(child.stderr, process.stderr, output)]);
const exitCode = await child.exited;
const consoleSummary = parseConsoleSummary(output.text);

let xml: string;
try {
  xml = readFileSync(report, "utf8");
} catch {
  console.error(
    `\nerror: ${report} was not written (bun test exited with code ${exitCode}); no results to count`,
  );
  finish(consoleSummary?.pass ?? 0, Math.max(consoleSummary?.fail ?? 0, 1));
}

try {
  const junit = parseJUnit(xml);
  const result = verdict(junit, consoleSummary, exitCode);
  const failedCases = junit.cases.filter((c) => c.outcome === "failed");
  if (failedCases.length > 0) {
    console.log("\nFailed:");
    for (const c of failedCases.slice(0, 50)) {
      const where = [c.file, c.classname, c.name].filter(Boolean).join(" > ");
      console.log(`  ✗ ${where}${c.message ? ` — ${c.message.split("\n")[0]}` : ""}`);
    }
    if (failedCases.length > 50) console.log(`  … and ${failedCases.length - 50} more`);
  }
  for (const note of result.notes) console.log(`note: ${note}`);
  if (junit.skipped > 0) console.log(`(${junit.skipped} skipped or todo, not counted as passed)`);
  finish(result.passed, result.failed);
} catch (err) {
  if (!(err instanceof JUnitParseError)) throw err;
  console.error(`\nerror: ${report} is not a JUnit report we can read: ${err.message}`);
  finish(consoleSummary?.pass ?? 0, Math.max(consoleSummary?.fail ?? 0, 1));
}
