import type { Logger } from "./logger.ts";

export type ShutdownStep = [name: string, run: () => unknown];

/**
 * Graceful SIGTERM/SIGINT: the steps run in order (stop intake, drain in-flight work, close
 * connections) within a budget; past the budget the process exits non-zero rather than hang a
 * rolling update.
 */
export function onShutdown(logger: Logger, timeoutMs: number, steps: ShutdownStep[]): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal });
    const timer = setTimeout(() => {
      logger.error("shutdown timed out", { timeout_ms: timeoutMs });
      process.exit(1);
    }, timeoutMs);
    for (const [name, run] of steps) {
      try {
        await run();
      } catch (err) {
        logger.warn("shutdown step failed", { step: name, error: err as Error });
      }
    }
    clearTimeout(timer);
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
