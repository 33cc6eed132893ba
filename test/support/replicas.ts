import { join } from "node:path";
import {
  freePort,
  type ServiceHandle,
  type ServiceName,
  startService,
  stop,
  waitReady,
} from "@roundtrip/stack";
import type { TestStack } from "./test-stack.ts";

/**
 * More replicas of a stack's services: each a separate process of the same entry, with the same
 * environment as the stack's own (same database, broker and stream namespace) on a port of its
 * own, as a second pod of a Deployment is. The stack's process is replica 0.
 */
export class Replicas {
  readonly #extra = new Map<string, ServiceHandle>();

  constructor(
    private readonly env: TestStack,
    private readonly options: { readyTimeoutMs?: number; logDir?: string; stopTimeoutMs?: number } = {},
  ) {}

  /** Start replica `index` (≥ 1) of `name` (again, on the same port, if it ran before); waits until ready. */
  async start(name: ServiceName, index = 1, extraEnv: Record<string, string> = {}): Promise<ServiceHandle> {
    const id = `${name}#${index}`;
    const before = this.#extra.get(id);
    if (before?.running) throw new Error(`${id} is still running`);
    const handle = startService(name, {
      port: before?.port ?? freePort(),
      env: { ...this.env.serviceEnv(name), ...extraEnv },
      logFile: this.options.logDir ? join(this.options.logDir, `${name}-${index}.log`) : undefined,
    });
    this.#extra.set(id, handle);
    await waitReady(handle, this.options.readyTimeoutMs ?? 90_000);
    return handle;
  }

  /** Replica `index` of `name`: 0 is the stack's own process. */
  get(name: ServiceName, index: number): ServiceHandle {
    if (index === 0) return this.env.stack.services[name];
    const handle = this.#extra.get(`${name}#${index}`);
    if (!handle) throw new Error(`${name}#${index} was never started`);
    return handle;
  }

  /** kill -9 (or `signal`) of one replica, by the PID we started; waits until it is gone. */
  async kill(name: ServiceName, index: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (index === 0) return this.env.stack.kill(name, signal);
    const handle = this.get(name, index);
    handle.kill(signal);
    await handle.exited;
  }

  /** Start a killed replica again on its port; waits until ready. */
  async restart(name: ServiceName, index: number): Promise<void> {
    if (index === 0) await this.env.stack.start(name);
    else await this.start(name, index);
  }

  logTail(name: ServiceName, index: number, lines = 12): string {
    return this.get(name, index).logTail(lines);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#extra.values()].map((h) => stop(h, this.options.stopTimeoutMs ?? 8_000)));
  }
}
