import { loadConfigOrExit, t } from "@roundtrip/config";
import { createSql } from "./client.ts";
import { migrate } from "./migrate.ts";

const env = loadConfigOrExit(
  t.Object({ DATABASE_URL: t.String({ pattern: "^postgres(ql)?://" }) }),
  "migrate",
);
const [command] = process.argv.slice(2);
if (command !== "migrate") {
  console.error("usage: bun packages/db/src/cli.ts migrate");
  process.exit(64);
}
const sql = createSql(env.DATABASE_URL, { max: 1, application: "roundtrip-migrate" });
try {
  const { applied } = await migrate(sql);
  console.log(applied.length ? `applied ${applied.join(", ")}` : "schema up to date");
} finally {
  await sql.end();
}
