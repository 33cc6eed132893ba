import type { Bus } from "./connection.ts";
import type { Logger } from "./logger.ts";
import { provision } from "./provision.ts";
import type { TopologyOverrides } from "./topology.ts";

// Many loops notice a wiped broker at once; one provision answers them all, and a broker that
// keeps refusing is asked again at most this often.
const MIN_INTERVAL_MS = 1_000;

export type TopologyHealer = {
  reprovision(cause: unknown, where: string): Promise<void>;
  onReprovisioned(listener: () => void): () => void;
};

/**
 * Self-healing topology: whoever finds a stream or consumer missing (a broker restarted with an
 * empty store, a new broker) calls `reprovision`, which re-creates everything from topology.ts
 * — the same idempotent provision as at start-up — and says so at error level, because a store
 * that vanished is an incident even when the pipeline heals itself. Listeners (the outbox
 * reconciler) then re-check what the broker may have lost.
 */
export function topologyHealer(
  bus: () => Bus,
  options: { overrides?: TopologyOverrides; logger: Logger },
): TopologyHealer {
  const log = options.logger;
  const listeners = new Set<() => void>();
  let running: Promise<void> | undefined;
  let lastAttempt = 0;

  return {
    reprovision(cause, where) {
      if (running) return running;
      if (Date.now() - lastAttempt < MIN_INTERVAL_MS) return Promise.resolve();
      lastAttempt = Date.now();
      running = provision(bus(), { overrides: options.overrides })
        .then(
          (result) => {
            log.error(`nats: ${where}: stream or consumer missing; re-provisioned the topology`, {
              cause: describeCause(cause),
              streams: result.streams.length,
              consumers: result.consumers.length,
            });
            for (const listener of listeners) listener();
          },
          (err) =>
            log.error(`nats: ${where}: stream or consumer missing; re-provisioning failed`, {
              cause: describeCause(cause),
              err,
            }),
        )
        .finally(() => {
          lastAttempt = Date.now();
          running = undefined;
        });
      return running;
    },
    onReprovisioned(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

// nats.js reports a publish nobody stores as "jetstream is not enabled", with the server's
// "no responders" only in `cause`: both go in the log line.
function describeCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const inner = err.cause instanceof Error ? `: ${err.cause.message}` : "";
  return `${err.name}: ${err.message}${inner}`;
}
