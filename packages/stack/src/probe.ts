import { connect as natsConnect } from "@nats-io/transport-node";
import postgres from "postgres";

/** Error codes that mean "nothing usable listens there", as opposed to "it answered and said no". */
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "ConnectionRefused",
  "FailedToOpenSocket",
]);

export type PgProbe =
  | { ok: true }
  | { ok: false; reason: "unreachable" | "missing_database" | "rejected"; message: string };

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; errno?: unknown };
  return String(e?.code ?? e?.errno ?? "");
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Does PostgreSQL at `url` answer `select 1`? Distinguishes "nobody there" from "there, but no". */
export async function probePostgres(url: string, timeoutSeconds = 2): Promise<PgProbe> {
  const sql = postgres(url, { max: 1, connect_timeout: timeoutSeconds, idle_timeout: 1, onnotice: () => {} });
  try {
    await sql`select 1`;
    return { ok: true };
  } catch (err) {
    const code = errorCode(err);
    if (code === "3D000") return { ok: false, reason: "missing_database", message: errorMessage(err) };
    if (UNREACHABLE.has(code)) return { ok: false, reason: "unreachable", message: errorMessage(err) };
    return { ok: false, reason: "rejected", message: `${code ? `${code}: ` : ""}${errorMessage(err)}` };
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/** The database name in a PostgreSQL URL (the client's default, the user name, when there is none). */
export function databaseName(url: string): string {
  const u = new URL(url);
  const path = decodeURIComponent(u.pathname.replace(/^\//, ""));
  return path || decodeURIComponent(u.username) || "postgres";
}

/** `url` with its database replaced. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** Create the database `url` names, through the server's `postgres` database, unless it exists. */
export async function createDatabaseIfMissing(url: string): Promise<boolean> {
  const name = databaseName(url);
  const sql = postgres(withDatabase(url, "postgres"), { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    const [row] = await sql`select 1 as present from pg_database where datname = ${name}`;
    if (row) return false;
    await sql`create database ${sql(name)}`;
    return true;
  } catch (err) {
    // Someone else created it between our check and our create.
    if (errorCode(err) === "42P04") return false;
    throw err;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/** host:port pairs of a comma-separated NATS URL list. */
export function natsEndpoints(urls: string): Array<{ host: string; port: number }> {
  return urls
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const u = new URL(s.includes("://") ? s : `nats://${s}`);
      return { host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port || 4222) };
    });
}

/** Does anything accept a TCP connection at host:port within `timeoutMs`? */
export async function tcpAnswers(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  let socket: { end(): void } | undefined;
  const attempt = Bun.connect({
    hostname: host,
    port,
    socket: { data() {}, error() {}, connectError() {} },
  }).then(
    (s) => {
      socket = s;
      return true;
    },
    () => false,
  );
  const answered = await Promise.race([attempt, Bun.sleep(timeoutMs).then(() => false)]);
  socket?.end();
  attempt.then((ok) => ok && !answered && socket?.end());
  return answered;
}

export type NatsProbe =
  | { ok: true; jetstream: boolean; version: string }
  | { ok: false; reason: "unreachable" | "rejected"; message: string };

/** TCP first (fast "nobody there"), then a real nats.js connect that reports whether JetStream is on. */
export async function probeNats(urls: string, timeoutMs = 2_000): Promise<NatsProbe> {
  const endpoints = natsEndpoints(urls);
  const reachable = await Promise.all(endpoints.map((e) => tcpAnswers(e.host, e.port, timeoutMs)));
  if (!reachable.some(Boolean)) {
    return { ok: false, reason: "unreachable", message: `no TCP answer from ${urls}` };
  }
  try {
    const nc = await natsConnect({
      servers: urls.split(",").map((s) => s.trim()),
      timeout: timeoutMs,
      reconnect: false,
      name: "roundtrip-stack-probe",
    });
    const info = nc.info;
    await nc.close();
    return { ok: true, jetstream: Boolean(info?.jetstream), version: info?.version ?? "unknown" };
  } catch (err) {
    return { ok: false, reason: "rejected", message: errorMessage(err) };
  }
}
