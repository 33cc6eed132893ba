import { resolve } from "node:path";
import { StackError } from "./errors.ts";
import { type LogOptions, ProcessLog } from "./log.ts";
import { REPO_ROOT } from "./paths.ts";

/** A child process we started, with its captured output. */
export interface ProcessHandle {
  readonly name: string;
  readonly pid: number;
  readonly log: ProcessLog;
  /** Resolves with the exit code (null when killed by a signal) once the process ended and its output was read. */
  readonly exited: Promise<number | null>;
  /** True until the process has exited. */
  readonly running: boolean;
  readonly exitCode: number | null;
  readonly signalCode: string | null;
  /** The last `lines` lines of its stdout and stderr. */
  logTail(lines?: number): string;
  /** Send a signal to this process (by the PID we started). */
  kill(signal?: NodeJS.Signals | number): void;
}

/** A started service: a process plus where it listens. */
export interface ServiceHandle extends ProcessHandle {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
}

export interface SpawnOptions {
  cmd: string[];
  /** Full environment of the child (not merged with ours). */
  env: Record<string, string>;
  cwd?: string;
  log?: LogOptions;
  /** New session/process group: a Ctrl-C in the terminal reaches only us, and we stop the child in order. */
  detached?: boolean;
  /** Keep a pipe to the child's stdin open; the child sees EOF when we die. */
  stdinPipe?: boolean;
}

/** How long to keep reading a dead process's pipes (a grandchild may hold them open). */
const DRAIN_AFTER_EXIT_MS = 1_000;

class ManagedProcess implements ProcessHandle {
  readonly name: string;
  readonly pid: number;
  readonly log: ProcessLog;
  readonly exited: Promise<number | null>;
  readonly #proc: Bun.Subprocess<"pipe" | "ignore", "pipe", "pipe">;
  #running = true;

  constructor(name: string, options: SpawnOptions) {
    this.name = name;
    this.log = new ProcessLog(options.log);
    this.#proc = Bun.spawn({
      cmd: options.cmd,
      cwd: options.cwd ?? REPO_ROOT,
      env: options.env,
      stdin: options.stdinPipe ? "pipe" : "ignore",
      stdout: "pipe",
      stderr: "pipe",
      detached: options.detached ?? false,
    });
    this.pid = this.#proc.pid;
    const drained = Promise.all([this.log.follow(this.#proc.stdout), this.log.follow(this.#proc.stderr)]);
    this.exited = this.#proc.exited.then(async (code) => {
      this.#running = false;
      await Promise.race([drained, Bun.sleep(DRAIN_AFTER_EXIT_MS)]);
      await this.log.close();
      return this.#proc.signalCode ? null : code;
    });
  }

  get running(): boolean {
    return this.#running;
  }

  get exitCode(): number | null {
    return this.#proc.exitCode;
  }

  get signalCode(): string | null {
    const signal = this.#proc.signalCode;
    return signal === null ? null : String(signal);
  }

  logTail(lines?: number): string {
    return this.log.tail(lines);
  }

  kill(signal?: NodeJS.Signals | number): void {
    if (this.#running) this.#proc.kill(signal);
  }
}

class ManagedService extends ManagedProcess implements ServiceHandle {
  readonly port: number;
  readonly url: string;

  constructor(name: string, port: number, options: SpawnOptions) {
    super(name, options);
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
  }
}

/** Spawn any command with captured output (the building block of everything below). */
export function spawnProcess(name: string, options: SpawnOptions): ProcessHandle {
  return new ManagedProcess(name, options);
}

/** Environment for a child: ours, then `overrides`; an `undefined` value removes the variable. */
export function childEnv(
  ...overrides: Array<Record<string, string | undefined> | undefined>
): Record<string, string> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const layer of overrides) if (layer) Object.assign(env, layer);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}

export interface StartServiceOptions {
  port: number;
  /** Added to our environment (PORT is set from `port`). */
  env?: Record<string, string | undefined>;
  /** Repository root the entry path is relative to (default: this monorepo). */
  cwd?: string;
  /** Echo output to the console with this prefix (the `up` view). */
  logPrefix?: string;
  /** Append output to this file. */
  logFile?: string;
  /** Replace `bun services/<name>/src/index.ts` (test fixtures). */
  command?: string[];
  detached?: boolean;
}

/**
 * Start `bun services/<name>/src/index.ts` as a separate process listening on `port`.
 * `--no-orphans` makes the service exit if we die without stopping it.
 */
export function startService(name: string, options: StartServiceOptions): ServiceHandle {
  const cwd = options.cwd ?? REPO_ROOT;
  const cmd = options.command ?? [
    process.execPath,
    "--no-orphans",
    resolve(cwd, "services", name, "src", "index.ts"),
  ];
  return new ManagedService(name, options.port, {
    cmd,
    cwd,
    env: childEnv(options.env, { PORT: String(options.port) }),
    log: { prefix: options.logPrefix, file: options.logFile },
    detached: options.detached,
  });
}

function describeExit(handle: ProcessHandle): string {
  return handle.signalCode ? `was killed by ${handle.signalCode}` : `exited with code ${handle.exitCode}`;
}

export interface WaitReadyOptions {
  /** Poll interval (default 100 ms). */
  intervalMs?: number;
  /** Give up early if this is aborted. */
  signal?: AbortSignal;
}

/**
 * Poll `GET <url>/readyz` until it answers 200. Given a handle, fail as soon as the process exits;
 * either way the error carries the service's last log lines and the last /readyz answer.
 */
export async function waitReady(
  target: ServiceHandle | string,
  timeoutMs = 30_000,
  options: WaitReadyOptions = {},
): Promise<void> {
  const handle = typeof target === "string" ? undefined : target;
  const url = `${typeof target === "string" ? target : target.url}/readyz`;
  const label = handle?.name ?? url;
  const deadline = Date.now() + timeoutMs;
  const interval = options.intervalMs ?? 100;
  let last = "no answer yet";
  let exited = false;
  handle?.exited.then(() => {
    exited = true;
  });

  while (true) {
    if (options.signal?.aborted) throw new StackError("aborted", `waiting for ${label} was aborted`);
    if (exited && handle) {
      throw new StackError("service_exited", `${label} ${describeExit(handle)} before it became ready`, {
        logTail: handle.logTail(),
      });
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(Math.min(2_000, timeoutMs)) });
      if (res.status === 200) return;
      last = `${res.status} ${(await res.text()).slice(0, 300)}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) {
      throw new StackError(
        "service_not_ready",
        `${label} was not ready after ${timeoutMs} ms (last /readyz: ${last})`,
        { logTail: handle?.logTail() },
      );
    }
    await Promise.race([Bun.sleep(interval), handle?.exited]);
  }
}

export interface StopResult {
  exitCode: number | null;
  signalCode: string | null;
  /** True when SIGTERM was not enough and we sent SIGKILL. */
  killed: boolean;
}

/** SIGTERM, then SIGKILL after `timeoutMs`, to the PID we started. Safe to call twice. */
export async function stop(handle: ProcessHandle, timeoutMs = 15_000): Promise<StopResult> {
  let killed = false;
  if (handle.running) {
    handle.kill("SIGTERM");
    const timedOut = await Promise.race([
      handle.exited.then(() => false),
      Bun.sleep(timeoutMs).then(() => true),
    ]);
    if (timedOut && handle.running) {
      killed = true;
      handle.kill("SIGKILL");
    }
  }
  await handle.exited;
  return { exitCode: handle.exitCode, signalCode: handle.signalCode, killed };
}

export interface RunCommandOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  logPrefix?: string;
  logFile?: string;
  /** Kill it and fail after this long (default 120 s). */
  timeoutMs?: number;
}

/** Run a one-shot command (migrations, provisioning) to completion; fail with its output if it fails. */
export async function runCommand(
  name: string,
  cmd: string[],
  options: RunCommandOptions = {},
): Promise<void> {
  const handle = spawnProcess(name, {
    cmd,
    cwd: options.cwd,
    env: childEnv(options.env),
    log: { prefix: options.logPrefix, file: options.logFile },
  });
  const timeoutMs = options.timeoutMs ?? 120_000;
  const finished = await Promise.race([
    handle.exited.then(() => true),
    Bun.sleep(timeoutMs).then(() => false),
  ]);
  if (!finished) {
    await stop(handle, 5_000);
    throw new StackError("command_failed", `${name} (${cmd.join(" ")}) did not finish in ${timeoutMs} ms`, {
      logTail: handle.logTail(),
    });
  }
  if (handle.exitCode !== 0) {
    throw new StackError("command_failed", `${name} (${cmd.join(" ")}) ${describeExit(handle)}`, {
      logTail: handle.logTail(),
    });
  }
}
