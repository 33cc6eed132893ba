/**
 * `bun packages/stack/src/cli.ts postgres|nats` — ensure one dependency (reuse it when its URL
 * env var answers, otherwise start the embedded one), print `DATABASE_URL=…` / `NATS_URL=…`, and
 * keep it until SIGTERM or SIGINT. CI uses it when a machine has no PostgreSQL installed.
 */
import { type Dependency, ensureNats, ensurePostgres } from "./embedded.ts";
import { StackError } from "./errors.ts";

const [what] = process.argv.slice(2);
const onStatus = (message: string) => console.error(message);

async function ensure(): Promise<Dependency> {
  const { DATABASE_URL, NATS_URL } = process.env;
  if (what === "postgres") {
    const pg = await ensurePostgres(DATABASE_URL, { onStatus });
    console.log(`DATABASE_URL=${pg.url}`);
    return pg;
  }
  if (what === "nats") {
    const nats = await ensureNats(NATS_URL, { onStatus });
    console.log(`NATS_URL=${nats.url}`);
    return nats;
  }
  console.error("usage: bun packages/stack/src/cli.ts postgres|nats");
  process.exit(2);
}

const dependency = await ensure().catch((err: unknown) => {
  if (!(err instanceof StackError)) throw err;
  console.error(err.message);
  process.exit(1);
});

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  await dependency.stop();
  process.exit(0);
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
setInterval(() => {}, 1 << 30);
