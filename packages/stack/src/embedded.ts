import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { StackError } from "./errors.ts";
import { DATA_DIR } from "./paths.ts";
import { choosePort, processAlive } from "./port-holder.ts";
import { binariesPackageDir } from "./postgres-binaries.ts";
import { createDatabaseIfMissing, probeNats, probePostgres } from "./probe.ts";
import { childEnv, type ProcessHandle, spawnProcess, stop } from "./process.ts";

/** A dependency we either found running or started; `stop()` only stops what we started. */
export interface Dependency {
  url: string;
  /** True when this call started it (and `stop()` will stop it). */
  started: boolean;
  /** The process we started, if any. */
  process?: ProcessHandle;
  stop(): Promise<void>;
}

export interface EnsureOptions {
  /** Informational messages ("using …", "starting …"); default: silent. */
  onStatus?: (message: string) => void;
  /** Echo the started server's output to the console with this prefix. */
  logPrefix?: string;
  /** Append the started server's output to this file. */
  logFile?: string;
  /** How long a started server may take to answer (default 60 s for PostgreSQL, 15 s for NATS). */
  startTimeoutMs?: number;
}

/** The ports embedded PostgreSQL and NATS prefer; a taken one is replaced by a free one (and said so). */
export const EMBEDDED_POSTGRES_PORT = 54329;
export const EMBEDDED_NATS_PORT = 42220;

export interface EnsurePostgresOptions extends EnsureOptions {
  /** Data directory of the embedded cluster (default `.data/postgres` in the repo). */
  dataDir?: string;
  /** This port or fail (naming who holds it); default: `preferredPort` when free, else a free one. */
  port?: number;
  /** Default 54329. */
  preferredPort?: number;
  /** Database to create and return (default `roundtrip`). */
  database?: string;
}

const EMBEDDED_USER = "postgres";
const EMBEDDED_PASSWORD = "postgres";

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}

const found = (url: string): Dependency => ({ url, started: false, stop: async () => {} });

/** Use PostgreSQL at `url` when it answers; create its database when that is all that is missing. */
async function useExistingPostgres(url: string, label: string, onStatus: (m: string) => void) {
  const probe = await probePostgres(url);
  if (probe.ok) {
    onStatus(`PostgreSQL: using ${label} ${redact(url)}`);
    return found(url);
  }
  if (probe.reason === "missing_database") {
    await createDatabaseIfMissing(url);
    onStatus(`PostgreSQL: created the database of ${label} ${redact(url)}`);
    return found(url);
  }
  if (probe.reason === "rejected") {
    throw new StackError(
      "dependency_unavailable",
      `PostgreSQL at ${label} ${redact(url)} answered but refused us: ${probe.message}`,
    );
  }
  return undefined;
}

/**
 * PostgreSQL for the stack: `url` (DATABASE_URL) when it answers, else the embedded cluster of
 * `dataDir` when an earlier run left it running, else a new embedded cluster that we own — on
 * 54329, or on a free port when 54329 is taken (`onStatus` says by whom).
 */
export async function ensurePostgres(url?: string, options: EnsurePostgresOptions = {}): Promise<Dependency> {
  const onStatus = options.onStatus ?? (() => {});
  if (url) {
    const existing = await useExistingPostgres(url, "DATABASE_URL", onStatus);
    if (existing) return existing;
    onStatus(`PostgreSQL: DATABASE_URL ${redact(url)} does not answer; using embedded PostgreSQL`);
  }

  const database = options.database ?? "roundtrip";
  const dataDir = resolve(options.dataDir ?? resolve(DATA_DIR, "postgres"));
  const urlAt = (port: number) =>
    `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/${database}`;
  // Our own cluster left running by an earlier run (its postmaster.pid names the port): reuse it —
  // never a cluster that merely answers on the default port, which may be another clone's.
  const leftover = runningClusterPort(dataDir);
  if (leftover !== undefined) {
    const running = await useExistingPostgres(
      urlAt(leftover),
      "the embedded PostgreSQL of this data directory, still running at",
      onStatus,
    );
    if (running) return running;
  }

  const port = choosePort(options.port ?? options.preferredPort ?? EMBEDDED_POSTGRES_PORT, "PostgreSQL", {
    fixed: options.port !== undefined,
    onStatus,
  });
  const embeddedUrl = urlAt(port);
  assertPostgresUserCanReach(dataDir);
  onStatus(`PostgreSQL: starting embedded PostgreSQL on 127.0.0.1:${port} (data in ${dataDir})`);
  const handle = spawnProcess("postgres", {
    cmd: [process.execPath, resolve(import.meta.dir, "postgres-server.ts")],
    env: childEnv({
      PG_EMBED_DATA_DIR: dataDir,
      PG_EMBED_PORT: String(port),
      PG_EMBED_USER: EMBEDDED_USER,
      PG_EMBED_PASSWORD: EMBEDDED_PASSWORD,
      PG_EMBED_DATABASE: database,
    }),
    log: { prefix: options.logPrefix, file: options.logFile },
    detached: true,
    stdinPipe: true,
  });
  let failure: string | undefined;
  const ready = new Promise<string>((resolveReady) => {
    handle.log.onLine((line) => {
      if (line.startsWith("READY ")) resolveReady(line.slice("READY ".length));
      if (line.startsWith("FAILED ")) failure = line.slice("FAILED ".length);
    });
  });
  await untilStarted(handle, ready, options.startTimeoutMs ?? 60_000, "embedded PostgreSQL", () => failure);
  return {
    url: embeddedUrl,
    started: true,
    process: handle,
    stop: async () => {
      await stop(handle, 30_000);
    },
  };
}

/** The port of the cluster whose postmaster.pid (pid, data dir, start time, port, …) is in `dataDir`, if it runs. */
function runningClusterPort(dataDir: string): number | undefined {
  let lines: string[];
  try {
    lines = readFileSync(resolve(dataDir, "postmaster.pid"), "utf8").split("\n");
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  return Number.isInteger(pid) && pid > 0 && Number.isInteger(port) && processAlive(pid) ? port : undefined;
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to walk to the data
 * directory and the binaries. A repository under /root (mode 700) is the usual way this fails.
 */
function assertPostgresUserCanReach(dataDir: string): void {
  if (process.getuid?.() !== 0) return;
  for (const target of [dataDir, binariesPackageDir()]) {
    if (!target) continue;
    for (let dir = dirname(target); ; dir = dirname(dir)) {
      const mode = statOrUndefined(dir)?.mode;
      if (mode !== undefined && (mode & 0o001) === 0) {
        throw new StackError(
          "dependency_unavailable",
          `Embedded PostgreSQL runs as the "postgres" user when started by root, and that user cannot enter ${dir} ` +
            `(needed for ${target}). Move the repository somewhere readable (e.g. /srv or /work), ` +
            "run as a normal user, or set DATABASE_URL to a PostgreSQL you run yourself.",
        );
      }
      if (dir === dirname(dir)) break;
    }
  }
}

function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

async function untilStarted(
  handle: ProcessHandle,
  ready: Promise<unknown>,
  timeoutMs: number,
  what: string,
  /** The cause the process reported before exiting, when it says one. */
  reported: () => string | undefined = () => undefined,
): Promise<void> {
  const outcome = await Promise.race([
    ready.then((value) => (value === false ? ("exited" as const) : ("ready" as const))),
    handle.exited.then(() => "exited" as const),
    Bun.sleep(timeoutMs).then(() => "timeout" as const),
  ]);
  if (outcome === "ready") return;
  if (outcome === "timeout") await stop(handle, 10_000);
  else await handle.exited;
  throw new StackError(
    "dependency_unavailable",
    outcome === "exited"
      ? `${what} exited before it was ready (${reported() ?? `code ${handle.exitCode ?? handle.signalCode}`})`
      : `${what} was not ready after ${timeoutMs} ms`,
    { logTail: handle.logTail() },
  );
}

export interface EnsureNatsOptions extends EnsureOptions {
  /** JetStream store directory of a started nats-server (default `.data/nats` in the repo). */
  storeDir?: string;
  /** This port or fail (naming who holds it); default: `preferredPort` when free, else a free one. */
  port?: number;
  /** Default 42220. */
  preferredPort?: number;
}

/** Which nats-server we started for a store directory, so a later run reuses it rather than a second one on the same store. */
const natsRunFile = (storeDir: string) => resolve(storeDir, "roundtrip-nats-server.json");

function runningNatsPort(storeDir: string): number | undefined {
  try {
    const { pid, port } = JSON.parse(readFileSync(natsRunFile(storeDir), "utf8")) as {
      pid: number;
      port: number;
    };
    return Number.isInteger(pid) && Number.isInteger(port) && processAlive(pid) ? port : undefined;
  } catch {
    return undefined;
  }
}

export const NATS_INSTALL_HINT = [
  "nats-server is not on PATH. Install it, or set NATS_URL to a running NATS server with JetStream:",
  "  Debian/Ubuntu:  sudo apt-get install nats-server",
  "  macOS:          brew install nats-server",
  "  any platform:   download a release from https://github.com/nats-io/nats-server/releases and put nats-server on PATH",
].join("\n");

async function useExistingNats(url: string, label: string, onStatus: (m: string) => void) {
  const probe = await probeNats(url);
  if (probe.ok) {
    if (!probe.jetstream) {
      throw new StackError(
        "dependency_unavailable",
        `NATS at ${label} ${url} answers but JetStream is disabled; start nats-server with -js`,
      );
    }
    onStatus(`NATS: using ${label} ${url} (nats-server ${probe.version})`);
    return found(url);
  }
  if (probe.reason === "rejected") {
    throw new StackError(
      "dependency_unavailable",
      `NATS at ${label} ${url} accepts TCP but the NATS handshake failed: ${probe.message}`,
    );
  }
  return undefined;
}

/**
 * NATS for the stack: `url` (NATS_URL) when it answers with JetStream, else the nats-server an
 * earlier run left running on `storeDir`, else `nats-server -js` from PATH that we start and own —
 * on 42220, or on a free port when 42220 is taken (`onStatus` says by whom).
 */
export async function ensureNats(url?: string, options: EnsureNatsOptions = {}): Promise<Dependency> {
  const onStatus = options.onStatus ?? (() => {});
  if (url) {
    const existing = await useExistingNats(url, "NATS_URL", onStatus);
    if (existing) return existing;
    onStatus(`NATS: NATS_URL ${url} does not answer; using a local nats-server`);
  }

  const storeDir = resolve(options.storeDir ?? resolve(DATA_DIR, "nats"));
  const leftover = runningNatsPort(storeDir);
  if (leftover !== undefined) {
    const running = await useExistingNats(
      `nats://127.0.0.1:${leftover}`,
      "the nats-server of this store, still running at",
      onStatus,
    );
    if (running) return running;
  }

  const binary = Bun.which("nats-server");
  if (!binary) throw new StackError("dependency_unavailable", NATS_INSTALL_HINT);
  const port = choosePort(options.port ?? options.preferredPort ?? EMBEDDED_NATS_PORT, "NATS", {
    fixed: options.port !== undefined,
    onStatus,
  });
  const localUrl = `nats://127.0.0.1:${port}`;
  onStatus(`NATS: starting ${binary} on 127.0.0.1:${port} (JetStream store in ${storeDir})`);
  const handle = spawnProcess("nats", {
    cmd: [binary, "-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", String(port)],
    env: childEnv(),
    log: { prefix: options.logPrefix, file: options.logFile },
    detached: true,
  });
  const ready = (async () => {
    while (handle.running) {
      if ((await probeNats(localUrl, 500)).ok) return true;
      await Bun.sleep(100);
    }
    return false;
  })();
  await untilStarted(handle, ready, options.startTimeoutMs ?? 15_000, "nats-server");
  mkdirSync(storeDir, { recursive: true });
  writeFileSync(natsRunFile(storeDir), JSON.stringify({ pid: handle.pid, port }));
  return {
    url: localUrl,
    started: true,
    process: handle,
    stop: async () => {
      await stop(handle, 15_000);
      rmSync(natsRunFile(storeDir), { force: true });
    },
  };
}
