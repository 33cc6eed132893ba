import type { Static, TObject } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

/** Raised when the environment does not match a service's schema; the message names every bad variable. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code = "CONFIG_INVALID";
  constructor(
    readonly problems: { variable: string; message: string }[],
    options?: ErrorOptions,
  ) {
    super(`invalid environment: ${problems.map((p) => `${p.variable} ${p.message}`).join("; ")}`, options);
  }
}

/**
 * Parses the environment once against a TypeBox schema: defaults applied, strings converted to the
 * declared types (ports, timeouts), then validated. Empty strings count as unset, because
 * `FOO=` in a manifest almost always means "not configured".
 */
export function loadConfig<T extends TObject>(
  schema: T,
  env: Record<string, string | undefined> = process.env,
): Static<T> {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) {
    const value = env[key];
    if (value !== undefined && value !== "") raw[key] = value;
  }
  const withDefaults = Value.Default(schema, raw);
  const converted = Value.Convert(schema, withDefaults);
  const problems = [...Value.Errors(schema, converted)].map((e) => {
    const variable = e.path.replace(/^\//, "") || "(environment)";
    const missing = (converted as Record<string, unknown>)[variable] === undefined;
    return { variable, message: missing ? "is required" : `is invalid: ${e.message}` };
  });
  if (problems.length > 0) throw new ConfigError(dedupe(problems));
  return converted as Static<T>;
}

/** For entry files: a bad environment stops the process with one clear line instead of a stack trace. */
export function loadConfigOrExit<T extends TObject>(schema: T, service: string): Static<T> {
  try {
    return loadConfig(schema);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`${service}: ${err.message}`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}

function dedupe(problems: { variable: string; message: string }[]) {
  const seen = new Set<string>();
  return problems.filter((p) => !seen.has(p.variable) && seen.add(p.variable));
}
