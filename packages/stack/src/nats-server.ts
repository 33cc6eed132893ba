import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { StackError } from "./errors.ts";
import { DATA_DIR } from "./paths.ts";
import { freePort } from "./ports.ts";
import { probeNats } from "./probe.ts";
import { childEnv, type ProcessHandle, spawnProcess, stop } from "./process.ts";

export interface NatsServerOptions {
  /** Listen port on 127.0.0.1 (default: a free one). It stays the same across restarts. */
  port?: number;
  /** JetStream store directory (default: a new directory under `.data/`). */
  storeDir?: string;
  /** Append the server's output to this file (default `<storeDir>.log`). */
  logFile?: string;
  /** How long a start may take to answer (default 15 s). */
  startTimeoutMs?: number;
  /** A member of a cluster (see NatsCluster): its name, route port and the other members' route ports. */
  cluster?: NatsClusterMember;
}

export type NatsClusterMember = {
  /** Cluster name, the same for every member. */
  name: string;
  /** This server's name (JetStream's Raft groups know members by it: keep it across restarts). */
  serverName: string;
  /** Route port on 127.0.0.1. */
  port: number;
  /** Route ports of every member (this one's is skipped). */
  routes: number[];
};

const binary = () => Bun.which("nats-server") ?? Bun.which("nats-server", { PATH: "/usr/sbin:/usr/bin" });

/**
 * A nats-server with JetStream that a test owns alone, so it may stop it, kill it, delete its
 * store and start it again on the same port without disturbing the shared broker.
 */
export class NatsServer {
  readonly port: number;
  readonly url: string;
  readonly storeDir: string;
  readonly logFile: string;
  readonly #startTimeoutMs: number;
  readonly #cluster: NatsClusterMember | undefined;
  #process: ProcessHandle | undefined;

  constructor(options: NatsServerOptions = {}) {
    this.port = options.port ?? freePort();
    this.url = `nats://127.0.0.1:${this.port}`;
    if (options.storeDir) {
      this.storeDir = resolve(options.storeDir);
    } else {
      mkdirSync(DATA_DIR, { recursive: true });
      this.storeDir = mkdtempSync(join(DATA_DIR, "nats-"));
    }
    this.logFile = options.logFile ?? `${this.storeDir}.log`;
    this.#startTimeoutMs = options.startTimeoutMs ?? 15_000;
    this.#cluster = options.cluster;
  }

  get running(): boolean {
    return this.#process?.running ?? false;
  }

  /** The current process (undefined before the first start). */
  get process(): ProcessHandle | undefined {
    return this.#process;
  }

  /** Start the server and wait until it answers with JetStream enabled. */
  async start(): Promise<void> {
    if (this.running)
      throw new StackError("dependency_unavailable", `nats-server on ${this.url} already runs`);
    const path = binary();
    if (!path) throw new StackError("dependency_unavailable", "nats-server is not installed");
    mkdirSync(this.storeDir, { recursive: true });
    const handle = spawnProcess("nats", {
      cmd: [
        path,
        "-js",
        "-sd",
        this.storeDir,
        "-a",
        "127.0.0.1",
        "-p",
        String(this.port),
        ...clusterArgs(this.#cluster),
      ],
      env: childEnv(),
      log: { file: this.logFile },
    });
    this.#process = handle;
    const deadline = Date.now() + this.#startTimeoutMs;
    while (handle.running && Date.now() < deadline) {
      const probe = await probeNats(this.url, 500);
      if (probe.ok && probe.jetstream) return;
      await Bun.sleep(50);
    }
    await stop(handle, 5_000);
    throw new StackError(
      "dependency_unavailable",
      `nats-server on ${this.url} was not ready after ${this.#startTimeoutMs} ms (exit ${handle.exitCode ?? handle.signalCode})`,
      { logTail: handle.logTail() },
    );
  }

  /** SIGTERM (a clean shutdown: JetStream flushes its store), SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.#process) await stop(this.#process, timeoutMs);
  }

  /** kill -9: whatever the server had not written out yet is gone. */
  async kill(): Promise<void> {
    const handle = this.#process;
    if (!handle) return;
    handle.kill("SIGKILL");
    await handle.exited;
  }

  /** Delete the JetStream store (every stream, consumer and message). Only while stopped. */
  wipeStore(): void {
    if (this.running)
      throw new StackError("dependency_unavailable", "stop nats-server before wiping its store");
    rmSync(this.storeDir, { recursive: true, force: true });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stop it and delete its store and log. */
  async dispose(): Promise<void> {
    await this.stop(5_000);
    rmSync(this.storeDir, { recursive: true, force: true });
    if (!process.env.KEEP_NATS_LOG) rmSync(this.logFile, { force: true });
  }

  logTail(lines?: number): string {
    return this.#process?.logTail(lines) ?? "";
  }
}

function clusterArgs(member: NatsClusterMember | undefined): string[] {
  if (!member) return [];
  const routes = member.routes.filter((p) => p !== member.port).map((p) => `nats://127.0.0.1:${p}`);
  return [
    "--server_name",
    member.serverName,
    "--cluster_name",
    member.name,
    "--cluster",
    `nats://127.0.0.1:${member.port}`,
    "--routes",
    routes.join(","),
  ];
}

/** A started private nats-server (see NatsServer). */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const server = new NatsServer(options);
  await server.start();
  return server;
}
