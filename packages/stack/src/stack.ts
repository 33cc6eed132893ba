import { join } from "node:path";
import { StackError } from "./errors.ts";
import { consolePrefix } from "./log.ts";
import { REPO_ROOT } from "./paths.ts";
import { freePortsFor } from "./ports.ts";
import { runCommand, type ServiceHandle, startService, stop, waitReady } from "./process.ts";
import { DEFAULT_PORTS, SERVICE_NAMES, type ServiceName } from "./services.ts";

export interface StackOptions<S extends ServiceName = ServiceName> {
  databaseUrl: string;
  natsUrl: string;
  /** Stream/subject namespace (BUS_PREFIX); empty or omitted = none. */
  busPrefix?: string;
  /** Extra environment for every service (and for migrate/provision). */
  env?: Record<string, string | undefined>;
  /** Extra environment for one service, on top of `env`. */
  serviceEnv?: Partial<Record<S, Record<string, string | undefined>>>;
  /** Ports per service; missing ones get the defaults (8080…8085). `"free"`: a free port each. */
  ports?: Partial<Record<S, number>> | "free";
  /** Which services to start (default: all six). */
  services?: readonly S[];
  /** Repository root (default: this monorepo). */
  cwd?: string;
  /** `"console"`: every line to our console with a `name |` prefix (the `up` view). Default: kept in memory. */
  log?: "console" | "memory";
  /** Also write `<logDir>/<service>.log` (and migrate.log, provision.log). */
  logDir?: string;
  /** Run migrations / stream provisioning first (default true). */
  migrate?: boolean;
  provision?: boolean;
  /** Per service (default 30 s). */
  readyTimeoutMs?: number;
  /** SIGTERM budget per service before SIGKILL (default 15 s; services drain for 10 s by default). */
  stopTimeoutMs?: number;
  /** Start services in their own process group, so a terminal Ctrl-C reaches only us (`up`). */
  detached?: boolean;
  /** Replace the command of a service (test fixtures). */
  command?: (name: S, port: number) => string[] | undefined;
  /** Abort start-up: whatever was started is stopped and the call fails with code "aborted". */
  signal?: AbortSignal;
}

export interface Stack<S extends ServiceName = ServiceName> {
  /** `http://127.0.0.1:<port>` per started service. */
  urls: Record<S, string>;
  services: Record<S, ServiceHandle>;
  /** Stop one service (SIGTERM, then SIGKILL) and start it again on the same port; waits until ready. */
  restart(name: S): Promise<ServiceHandle>;
  /** Send `signal` (default SIGKILL: a crash, nothing drains) to one service and wait until it is gone. */
  kill(name: S, signal?: NodeJS.Signals): Promise<void>;
  /** Start a stopped or killed service again on its port; waits until ready. */
  start(name: S): Promise<ServiceHandle>;
  /** Stop every service, in parallel. Idempotent. */
  stop(): Promise<void>;
}

const LABEL_WIDTH = Math.max(...SERVICE_NAMES.map((n) => n.length), "provision".length);

/**
 * Migrate, provision, then start the services as separate processes and wait until every one
 * answers /readyz. On any failure, everything started is stopped and the error carries the log tail.
 */
export async function startStack<S extends ServiceName = ServiceName>(
  options: StackOptions<S>,
): Promise<Stack<S>> {
  const names = (options.services ?? SERVICE_NAMES) as readonly S[];
  const cwd = options.cwd ?? REPO_ROOT;
  const consoleLog = options.log === "console";
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 15_000;
  const requested = options.ports;
  const ports: Record<S, number> =
    requested === "free"
      ? freePortsFor(names)
      : (Object.fromEntries(names.map((n) => [n, requested?.[n] ?? DEFAULT_PORTS[n]])) as Record<S, number>);
  const commonEnv = {
    ...options.env,
    DATABASE_URL: options.databaseUrl,
    NATS_URL: options.natsUrl,
    BUS_PREFIX: options.busPrefix || undefined,
  };
  const logSetup = (name: string, index: number) => ({
    logPrefix: consoleLog ? consolePrefix(name, LABEL_WIDTH, index) : undefined,
    logFile: options.logDir ? join(options.logDir, `${name}.log`) : undefined,
  });
  const throwIfAborted = () => {
    if (options.signal?.aborted) throw new StackError("aborted", "stack start-up was aborted");
  };

  const bun = process.execPath;
  const oneShots: Promise<void>[] = [];
  if (options.migrate ?? true) {
    oneShots.push(
      runCommand("migrate", [bun, "packages/db/src/cli.ts", "migrate"], {
        cwd,
        env: commonEnv,
        ...logSetup("migrate", 6),
      }),
    );
  }
  if (options.provision ?? true) {
    oneShots.push(
      runCommand("provision", [bun, "packages/bus/src/cli.ts", "provision"], {
        cwd,
        env: commonEnv,
        ...logSetup("provision", 7),
      }),
    );
  }
  // Both run to the end even if one fails, so nothing is left running behind the error.
  const failed = (await Promise.allSettled(oneShots)).find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  throwIfAborted();

  const start = (name: S) =>
    startService(name, {
      port: ports[name],
      cwd,
      env: { ...commonEnv, ...options.serviceEnv?.[name] },
      command: options.command?.(name, ports[name]),
      detached: options.detached,
      ...logSetup(name, SERVICE_NAMES.indexOf(name)),
    });

  const services = {} as Record<S, ServiceHandle>;
  for (const name of names) services[name] = start(name);
  const stopAll = async () => {
    await Promise.all(Object.values<ServiceHandle>(services).map((h) => stop(h, stopTimeoutMs)));
  };

  const results = await Promise.allSettled(
    names.map((name) => waitReady(services[name], readyTimeoutMs, { signal: options.signal })),
  );
  const failures = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
  if (failures.length > 0 || options.signal?.aborted) {
    await stopAll();
    throwIfAborted();
    const [first] = failures;
    if (failures.length === 1 && first instanceof StackError) throw first;
    throw new StackError(
      "service_not_ready",
      `${failures.length} service(s) did not start:\n\n${failures.map((f) => (f instanceof Error ? f.message : String(f))).join("\n\n")}`,
      { cause: first },
    );
  }

  let stopping: Promise<void> | undefined;
  return {
    urls: Object.fromEntries(names.map((n) => [n, services[n].url])) as Record<S, string>,
    services,
    async restart(name) {
      await stop(services[name], stopTimeoutMs);
      services[name] = start(name);
      await waitReady(services[name], readyTimeoutMs);
      return services[name];
    },
    async kill(name, signal = "SIGKILL") {
      services[name].kill(signal);
      await services[name].exited;
    },
    async start(name) {
      if (services[name].running) throw new StackError("service_not_ready", `${name} is still running`);
      services[name] = start(name);
      await waitReady(services[name], readyTimeoutMs);
      return services[name];
    },
    stop() {
      stopping ??= stopAll();
      return stopping;
    },
  };
}
