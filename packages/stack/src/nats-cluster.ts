import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { StackError } from "./errors.ts";
import { NatsServer } from "./nats-server.ts";
import { DATA_DIR } from "./paths.ts";
import { freePorts } from "./ports.ts";

export type NatsClusterOptions = {
  /** Members (default 3: the smallest cluster whose R3 streams survive losing one). */
  size?: number;
  /** Parent of the members' store directories (default: a new directory under `.data/`). */
  dataDir?: string;
  /** How long a start may take until JetStream answers through the cluster (default 60 s). */
  startTimeoutMs?: number;
};

/**
 * A JetStream cluster a test owns alone: `size` nats-server processes on 127.0.0.1 with routes to
 * each other, each with its own store under `dataDir`, so a test may kill, stop, wipe and restart
 * any member as a Kubernetes pod would lose its process or its volume. `url` lists every member,
 * as services are given them (`NATS_URL`, comma separated).
 */
export class NatsCluster {
  readonly name: string;
  readonly nodes: NatsServer[];
  readonly url: string;
  readonly dataDir: string;
  readonly #startTimeoutMs: number;

  constructor(options: NatsClusterOptions = {}) {
    const size = options.size ?? 3;
    if (options.dataDir) {
      mkdirSync(options.dataDir, { recursive: true });
      this.dataDir = options.dataDir;
    } else {
      mkdirSync(DATA_DIR, { recursive: true });
      this.dataDir = mkdtempSync(join(DATA_DIR, "nats-cluster-"));
    }
    this.name = `rt_${crypto.randomUUID().slice(0, 8)}`;
    const ports = freePorts(size * 2);
    const routes = ports.slice(size);
    this.nodes = Array.from(
      { length: size },
      (_, i) =>
        new NatsServer({
          port: ports[i],
          storeDir: join(this.dataDir, `n${i}`),
          logFile: join(this.dataDir, `n${i}.log`),
          cluster: { name: this.name, serverName: `n${i}`, port: routes[i] as number, routes },
        }),
    );
    this.url = this.nodes.map((n) => n.url).join(",");
    this.#startTimeoutMs = options.startTimeoutMs ?? 60_000;
  }

  /** Start every member and wait until JetStream answers through the cluster (a meta leader exists). */
  async start(): Promise<void> {
    await Promise.all(this.nodes.map((n) => (n.running ? undefined : n.start())));
    await this.untilJetStream();
  }

  /** Start member `i` again (after kill or stop), on its port, store and name. */
  async startNode(i: number): Promise<void> {
    await this.node(i).start();
  }

  /** kill -9 of member `i`. */
  async killNode(i: number): Promise<void> {
    await this.node(i).kill();
  }

  /** Stop member `i`, delete its whole store (a lost volume) and start it empty. */
  async replaceNodeStore(i: number): Promise<void> {
    const node = this.node(i);
    await node.kill();
    node.wipeStore();
    await node.start();
  }

  /** Waits until a JetStream API request answers through any member. */
  async untilJetStream(timeoutMs = this.#startTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      try {
        const nc = await connect({ servers: this.url.split(","), timeout: 2_000, reconnect: false });
        try {
          const jsm = await jetstreamManager(nc, { timeout: 2_000 });
          await jsm.getAccountInfo();
          return;
        } finally {
          await nc.close();
        }
      } catch (err) {
        last = (err as Error).message;
      }
      await Bun.sleep(250);
    }
    throw new StackError(
      "dependency_unavailable",
      `the NATS cluster ${this.url} had no JetStream after ${timeoutMs} ms: ${last}`,
      { logTail: this.nodes.map((n, i) => `--- n${i} ---\n${n.logTail(8)}`).join("\n") },
    );
  }

  logTail(lines = 8): string {
    return this.nodes.map((n, i) => `--- nats n${i} ---\n${n.logTail(lines)}`).join("\n");
  }

  /** Stop every member and delete the stores and logs. */
  async dispose(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop(5_000)));
    if (!process.env.KEEP_NATS_LOG) rmSync(this.dataDir, { recursive: true, force: true });
  }

  private node(i: number): NatsServer {
    const node = this.nodes[i];
    if (!node) throw new RangeError(`no member ${i} in a cluster of ${this.nodes.length}`);
    return node;
  }
}
