export { createLogger, type Logger, type LogLevel } from "./logger.ts";
export { createRegistry, counter, gauge, histogram, type Registry } from "./metrics.ts";
export { startTracing, tracer, withSpan } from "./tracing.ts";
export { observability, type ReadinessChecks } from "./http.ts";
export { onShutdown, type ShutdownStep } from "./shutdown.ts";
