import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { createTestDatabase, type TestDatabase } from "@roundtrip/db";
import { inspectInvitation } from "./modules/auth/service.ts";

let db: TestDatabase;
const CLI = join(import.meta.dir, "cli.ts");

beforeAll(async () => {
  db = await createTestDatabase("admincli");
});
afterAll(async () => {
  await db?.drop();
});

const run = async (...args: string[]) => {
  const p = Bun.spawn(["bun", CLI, ...args], {
    env: { ...process.env, DATABASE_URL: db.url },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { out, err, code };
};

test("admin:invite prints an accept path whose token opens the invitation, once per email", async () => {
  const made = await run("invite", "--email", "First@Example.test", "--role", "admin");
  expect(made.code, made.err).toBe(0);
  const token = /accept-invitation\?token=([A-Za-z0-9_-]{43})/.exec(made.out)?.[1];
  expect(token).toBeDefined();
  expect(await inspectInvitation(db.sql, token as string)).toMatchObject({
    email: "first@example.test",
    role: "admin",
  });
  const [row] = await db.sql`select invited_by from user_invitations where email = 'first@example.test'`;
  expect(row?.invited_by).toBe("cli:admin:invite");
});

test("admin:invite refuses a bad role or an affiliate without an affiliate, naming the problem", async () => {
  const badRole = await run("invite", "--email", "x@example.test", "--role", "owner");
  expect(badRole.code).toBe(64);
  expect(badRole.err).toContain("role");
  const noAffiliate = await run("invite", "--email", "x@example.test", "--role", "affiliate");
  expect(noAffiliate.code).toBe(1);
  expect(noAffiliate.err).toContain("affiliate_id");
});
