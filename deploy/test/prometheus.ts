// Starts and stops a real Prometheus (Debian's `prometheus` package) for tests: on 127.0.0.1, on a
// free port, with its own temporary config and storage, stopped by PID.
//
//   const prom = await startPrometheus({ configFile: "deploy/prometheus/prometheus.yml" });
//   const r = await prom.query('up{service="click"}');
//   await prom.stop();
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import type { Subprocess } from "bun";

export const APT_HINT =
  "install Debian's prometheus package: apt-get install -y --no-install-recommends prometheus";

export interface PrometheusOptions {
  /** Prometheus YAML config; default: no scrape targets. Relative rule_files resolve against ruleDir. */
  config?: string;
  /** An existing config file (e.g. deploy/prometheus/prometheus.yml); its rule_files are copied beside it. */
  configFile?: string;
  /** Seconds to wait for /-/ready. */
  readyTimeoutSeconds?: number;
}

export interface QueryResponse {
  status: "success" | "error";
  data?: { resultType: string; result: unknown[] };
  errorType?: string;
  error?: string;
  warnings?: string[];
}

export interface Prometheus {
  url: string;
  port: number;
  pid: number;
  /** Instant query through /api/v1/query; never throws on a PromQL error (status "error"). */
  query(expr: string, time?: Date): Promise<QueryResponse>;
  /** Range query through /api/v1/query_range. */
  queryRange(expr: string, start: Date, end: Date, stepSeconds: number): Promise<QueryResponse>;
  /** Prometheus's own log so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export function prometheusBinary(): string {
  const bin = Bun.which("prometheus");
  if (!bin) throw new Error(`prometheus binary not found on PATH — ${APT_HINT}`);
  return bin;
}

async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

function writeConfig(dir: string, opts: PrometheusOptions): string {
  const file = join(dir, "prometheus.yml");
  if (opts.configFile) {
    writeFileSync(file, readFileSync(opts.configFile));
    // rule_files are relative to the config file: bring the neighbours along.
    const text = readFileSync(opts.configFile, "utf8");
    for (const m of text.matchAll(/^\s*-\s*["']?([^"'\s#]+\.ya?ml)["']?\s*$/gm)) {
      const rule = m[1] ?? "";
      if (!rule.startsWith("/"))
        copyFileSync(join(dirname(opts.configFile), rule), join(dir, basename(rule)));
    }
  } else {
    writeFileSync(file, opts.config ?? "global:\n  scrape_interval: 15s\nscrape_configs: []\n");
  }
  return file;
}

async function waitReady(
  url: string,
  proc: Subprocess,
  logFile: string,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) return false;
    try {
      const r = await fetch(`${url}/-/ready`);
      if (r.ok) return true;
    } catch {
      // not listening yet
    }
    await Bun.sleep(100);
  }
  throw new Error(`Prometheus at ${url} not ready after ${timeoutMs} ms:\n${readFileSync(logFile, "utf8")}`);
}

export async function startPrometheus(opts: PrometheusOptions = {}): Promise<Prometheus> {
  const bin = prometheusBinary();
  const dir = mkdtempSync(join(tmpdir(), "roundtrip-prometheus-"));
  const configFile = writeConfig(dir, opts);
  const logFile = join(dir, "prometheus.log");
  // A port picked free can be taken before Prometheus binds it: retry on a fresh one.
  for (let attempt = 1; attempt <= 5; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const proc = Bun.spawn(
      [
        bin,
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--storage.tsdb.retention.time=1d",
        `--web.console.templates=${dir}`,
        `--web.console.libraries=${dir}`,
      ],
      { stdout: "ignore", stderr: Bun.file(logFile), stdin: "ignore" },
    );
    const killOnExit = () => proc.kill("SIGKILL");
    process.once("exit", killOnExit);
    if (!(await waitReady(url, proc, logFile, (opts.readyTimeoutSeconds ?? 30) * 1000))) {
      process.off("exit", killOnExit);
      const log = readFileSync(logFile, "utf8");
      if (attempt < 5 && log.includes("address already in use")) continue;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`Prometheus exited with ${proc.exitCode}:\n${log}`);
    }
    const api = async (path: string, params: Record<string, string>): Promise<QueryResponse> => {
      const r = await fetch(`${url}${path}`, { method: "POST", body: new URLSearchParams(params) });
      return (await r.json()) as QueryResponse;
    };
    const seconds = (d: Date) => String(d.getTime() / 1000);
    return {
      url,
      port,
      pid: proc.pid,
      query: (expr, time) => api("/api/v1/query", { query: expr, ...(time ? { time: seconds(time) } : {}) }),
      queryRange: (expr, start, end, step) =>
        api("/api/v1/query_range", {
          query: expr,
          start: seconds(start),
          end: seconds(end),
          step: String(step),
        }),
      log: () => readFileSync(logFile, "utf8"),
      async stop() {
        process.off("exit", killOnExit);
        if (proc.exitCode === null) {
          process.kill(proc.pid, "SIGTERM");
          const exited = await Promise.race([
            proc.exited.then(() => true),
            Bun.sleep(10_000).then(() => false),
          ]);
          if (!exited) process.kill(proc.pid, "SIGKILL");
          await proc.exited;
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  throw new Error("unreachable");
}
