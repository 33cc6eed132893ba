import type { Logger } from "@roundtrip/telemetry";

export type Periodic = {
  /** Runs the task now (after the one in flight, if any), without waiting for the interval. */
  kick(): Promise<void>;
  /** No new runs; resolves when the run in flight (if any) has finished. */
  stop(): Promise<void>;
};

/**
 * A background chore on a schedule: runs once at start, then `intervalMs` after the previous run
 * ended — never two at once in one process, so a slow pass delays the next instead of piling up.
 * A failing run is logged and retried on the next tick; the chore itself must be safe to run on
 * several replicas at once (idempotent, row-locked), since every replica runs it.
 */
export function startPeriodic(
  name: string,
  intervalMs: number,
  task: () => Promise<void>,
  logger: Logger,
): Periodic {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;

  const runOnce = (): Promise<void> => {
    clearTimeout(timer);
    running = running
      .then(task)
      .catch((err) => logger.warn(`${name} failed; will retry`, { err }))
      .finally(() => {
        if (!stopped) timer = setTimeout(runOnce, intervalMs);
      });
    return running;
  };
  void runOnce();
  return {
    kick: runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
