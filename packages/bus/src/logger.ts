type Fields = Record<string, unknown>;

/** Structurally the `@roundtrip/telemetry` logger, so a service passes its own; the bus needs no more. */
export type Logger = {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
};

// Without a logger, problems still reach stderr: a swallowed redelivery loop is worse than noise.
export const stderrLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (msg, fields) => write("warn", msg, fields),
  error: (msg, fields) => write("error", msg, fields),
};

function write(level: string, msg: string, fields?: Fields) {
  const line: Fields = { time: new Date().toISOString(), level, component: "bus", msg, ...fields };
  for (const [k, v] of Object.entries(line))
    if (v instanceof Error) line[k] = { name: v.name, message: v.message };
  process.stderr.write(`${JSON.stringify(line)}\n`);
}
