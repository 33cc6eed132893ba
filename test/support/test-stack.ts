import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { type AdminClient as TypedAdminClient, ApiError, createAdminClient } from "@roundtrip/client";
import { createTestDatabase, type Sql } from "@roundtrip/db";
import { freePortsFor, SERVICE_NAMES, type ServiceName, type Stack, startStack } from "@roundtrip/stack";

export type TestStack = {
  stack: Stack;
  urls: Record<ServiceName, string>;
  sql: Sql;
  /** The run's own database, for an extra process started beside the stack. */
  databaseUrl: string;
  adminKey: string;
  busPrefix: string;
  /** The environment each service of the stack was started with (for a replica beside it). */
  serviceEnv(name: ServiceName): Record<string, string | undefined>;
  admin: AdminClient;
  stop(): Promise<void>;
};

export const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
export const CLICK_ID_KEYS = `e2e:${"k".repeat(40)}`;

export type TestStackOptions = {
  /**
   * A NATS of the test's own (a private nats-server it may stop, kill or wipe). The test owns its
   * streams then: stop() leaves them alone (the broker may well be down by then).
   */
  natsUrl?: string;
  /** Run the provision command before the services start (default true). */
  provision?: boolean;
  /** Ports chosen by the caller (e.g. to watch /readyz while start-up is still waiting). */
  ports?: Record<ServiceName, number>;
  /** Per service (default 30 s). */
  readyTimeoutMs?: number;
  /** Also write each service's output to `<logDir>/<service>.log`. */
  logDir?: string;
};

/**
 * The six real services as separate processes on free ports, over a fresh database and a
 * fresh stream namespace, so runs never see each other's state.
 */
export async function startTestStack(
  label: string,
  extraEnv: Record<string, string> = {},
  options: TestStackOptions = {},
): Promise<TestStack> {
  const natsUrl = options.natsUrl ?? NATS_URL;
  const db = await createTestDatabase(label);
  const busPrefix = `${label.replace(/\W/g, "")}_${crypto.randomUUID().slice(0, 8)}`;
  const adminKey = `rt_test_${crypto.randomUUID().replaceAll("-", "")}`;
  let stack: Stack;
  // Ports chosen up front, so admin can be told where click and gateway are (tracking URLs shown
  // in the API, launch validation runs and the demo page call them).
  const ports = options.ports ?? freePortsFor(SERVICE_NAMES);
  const at = (name: ServiceName) => `http://127.0.0.1:${ports[name]}`;
  const env = {
    CLICK_ID_KEYS,
    ADMIN_BOOTSTRAP_API_KEY: adminKey,
    DELIVERY_ALLOWED_CIDRS: "127.0.0.0/8,::1/128",
    DELIVERY_POLL_MS: "200",
    LOG_LEVEL: "warn",
    SHUTDOWN_TIMEOUT_MS: "5000",
    ...extraEnv,
  };
  const serviceEnv: Partial<Record<ServiceName, Record<string, string>>> = {
    admin: {
      PUBLIC_CLICK_URL: at("click"),
      PUBLIC_GATEWAY_URL: at("gateway"),
      CLICK_URL: at("click"),
      GATEWAY_URL: at("gateway"),
      ...extraEnv,
    },
  };
  try {
    stack = await startStack({
      databaseUrl: db.url,
      natsUrl,
      busPrefix,
      ports,
      provision: options.provision,
      readyTimeoutMs: options.readyTimeoutMs,
      logDir: options.logDir,
      serviceEnv,
      env,
      stopTimeoutMs: 8_000,
    });
  } catch (err) {
    await db.drop();
    throw err;
  }
  return {
    stack,
    urls: stack.urls,
    sql: db.sql,
    databaseUrl: db.url,
    adminKey,
    busPrefix,
    serviceEnv: (name) => ({
      ...env,
      DATABASE_URL: db.url,
      NATS_URL: natsUrl,
      BUS_PREFIX: busPrefix,
      ...serviceEnv[name],
    }),
    admin: adminClient(stack.urls.admin, adminKey),
    async stop() {
      await stack.stop();
      if (!options.natsUrl) await deleteStreams(busPrefix);
      await db.drop();
    },
  };
}

async function deleteStreams(prefix: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`${prefix}_`)) await jsm.streams.delete(name);
    }
  } finally {
    await nc.close();
  }
}

/**
 * The admin API for tests: `api` is the typed client of packages/client (paths, bodies and
 * answers checked by the typechecker: `unwrap(env.admin.api.POST("/v1/brands", { body }))`);
 * `post`/`get`/`patch`/`put` are its untyped shorthand for a path with a query string or an
 * answer the test describes itself. Both throw ApiError (status, code, field) on a failure.
 */
export type AdminClient = {
  api: TypedAdminClient;
  post<T = Record<string, unknown>>(path: string, body: unknown): Promise<T>;
  get<T = Record<string, unknown>>(path: string): Promise<T>;
  patch<T = Record<string, unknown>>(path: string, body: unknown): Promise<T>;
  put<T = Record<string, unknown>>(path: string, body: unknown): Promise<T>;
};

export function adminClient(base: string, key: string): AdminClient {
  const api = createAdminClient({ baseUrl: base, apiKey: key });
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    try {
      return await api.json<T>(method, path, body === undefined ? {} : { body });
    } catch (err) {
      // The request beside the API's message, for a test's failure output (still an ApiError).
      if (err instanceof ApiError)
        err.message = `${method} ${path} → ${err.status} ${err.code}: ${err.message}`;
      throw err;
    }
  };
  return {
    api,
    post: (p, b) => call("POST", p, b),
    get: (p) => call("GET", p),
    patch: (p, b) => call("PATCH", p, b),
    put: (p, b) => call("PUT", p, b),
  };
}

/** Polls until `check` returns a value (not undefined/false) or the deadline passes. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    await Bun.sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}
