import { trace } from "@opentelemetry/api";

export type LogLevel = "debug" | "info" | "warn" | "error";
type Fields = Record<string, unknown>;
export type Logger = {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
};

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * One JSON object per line, with the active trace and span IDs so a log line leads to its trace.
 * Callers pass IDs and outcomes, never raw request parameters (secrets, personal data).
 */
export function createLogger(service: string, level: LogLevel = "info", base: Fields = {}): Logger {
  const min = ORDER[level];
  const write = (lvl: LogLevel, msg: string, fields?: Fields) => {
    if (ORDER[lvl] < min) return;
    const span = trace.getActiveSpan()?.spanContext();
    const line: Fields = { time: new Date().toISOString(), level: lvl, service, msg, ...base, ...fields };
    if (span && span.traceId !== "00000000000000000000000000000000") {
      line.trace_id = span.traceId;
      line.span_id = span.spanId;
    }
    for (const [k, v] of Object.entries(line))
      if (v instanceof Error) line[k] = { name: v.name, message: v.message };
    (lvl === "error" || lvl === "warn" ? process.stderr : process.stdout).write(`${JSON.stringify(line)}\n`);
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger(service, level, { ...base, ...fields }),
  };
}
