/**
 * The day-one path where nobody can sign in yet (a fresh production install): an invitation made
 * from a shell that reaches the database, e.g. `kubectl exec deploy/<release>-admin -- bun run
 * admin:invite --email you@example.com --role admin`. It prints the console path that accepts it;
 * the invitee sets the password there. (`bun run up` creates its first admin user itself.)
 */
import { parseArgs } from "node:util";
import { loadConfigOrExit, t } from "@roundtrip/config";
import { createSql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Value } from "@sinclair/typebox/value";
import { InvitationCreate } from "./modules/users/model.ts";
import { invite } from "./modules/users/service.ts";

const USAGE =
  "usage: bun run admin:invite --email <address> --role admin|manager|analyst|affiliate [--affiliate-id <id>] [--hours 72]";

const env = loadConfigOrExit(
  t.Object({ DATABASE_URL: t.String({ pattern: "^postgres(ql)?://" }) }),
  "admin:invite",
);
const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  options: {
    email: { type: "string" },
    role: { type: "string" },
    "affiliate-id": { type: "string" },
    hours: { type: "string", default: "72" },
  },
  allowPositionals: true,
});
const input = {
  email: values.email,
  role: values.role,
  ...(values["affiliate-id"] ? { affiliate_id: values["affiliate-id"] } : {}),
};
const hours = Number(values.hours);
if (positionals[0] !== "invite" || !Value.Check(InvitationCreate, input) || !(hours > 0 && hours <= 720)) {
  const first = [...Value.Errors(InvitationCreate, input)][0];
  console.error(first ? `${first.path.slice(1) || "(input)"}: ${first.message}\n${USAGE}` : USAGE);
  process.exit(64);
}
const sql = createSql(env.DATABASE_URL, { max: 1, application: "roundtrip-admin-cli" });
try {
  const made = await invite(sql, input, { invitationSeconds: Math.round(hours * 3600) }, "cli:admin:invite");
  console.log(`invited ${made.email} as ${made.role}; valid until ${made.expires_at.toISOString()}`);
  console.log(`open on the console's origin: ${made.accept_path}`);
} catch (err) {
  if (!(err instanceof HttpError)) throw err;
  console.error(err.message);
  process.exitCode = 1;
} finally {
  await sql.end();
}
