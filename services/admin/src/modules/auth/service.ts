/**
 * Signing in and the account rules a person meets: passwords (Bun.password, argon2id), the TOTP
 * second factor, invitations. Plain functions over plain values; every sign-in, success or
 * failure, is written to the audit log.
 */
import type { Sql, Tx } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import type { Role } from "../../auth.ts";
import { audit } from "../../changes.ts";
import { createSession, type SessionSettings } from "../../sessions.ts";
import {
  clearFailures,
  limitKeys,
  lockedFor,
  recordFailure,
  type SignInLimits,
} from "../../sign-in-limit.ts";
import { hashKey } from "../../tokens.ts";
import { acceptedStep, newTotpSecret, totpUri } from "../../totp.ts";
import type { SessionUser } from "./model.ts";

export type Client = { ip: string | null; userAgent: string | null };
export type AuthSettings = { sessions: SessionSettings; limits: SignInLimits };

type UserRow = {
  id: string;
  email: string;
  name: string;
  role: Role;
  affiliate_id: string | null;
  password_hash: string;
  totp_secret: string | null;
  totp_enabled_at: Date | null;
  totp_last_step: string | null;
  disabled_at: Date | null;
};

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function publicUser(
  u: Pick<UserRow, "id" | "email" | "name" | "role" | "affiliate_id" | "totp_enabled_at">,
): SessionUser {
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    role: u.role,
    affiliateId: u.affiliate_id,
    totpEnabled: u.totp_enabled_at !== null,
  };
}

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: "argon2id" });
}

// Verified against when the email names no user, so an unknown email takes as long as a wrong password.
let decoy: Promise<string> | undefined;
const decoyHash = () => {
  decoy ??= hashPassword(crypto.randomUUID());
  return decoy;
};

export type SignInOutcome =
  | { kind: "signed_in"; user: SessionUser; token: string }
  | { kind: "invalid_credentials" }
  | { kind: "totp_required"; message: string }
  | { kind: "too_many_attempts"; retryAfterS: number };

/**
 * Email and password, then the second factor when the user has one. Refused outright while the
 * email-and-address or the address counter is locked; each wrong password or code counts.
 */
export async function signIn(
  sql: Sql,
  settings: AuthSettings,
  input: { email: string; password: string; totp?: string },
  client: Client,
): Promise<SignInOutcome> {
  const email = normaliseEmail(input.email);
  const keys = limitKeys(email, client.ip, settings.limits);
  const record = (action: string, userId: string | null, reason: string, who?: string) =>
    sql.begin((tx) =>
      audit(tx, {
        actor: who ?? `anonymous:${client.ip ?? "unknown"}`,
        action,
        resource: "users",
        id: userId,
        after: { email, ip: client.ip, user_agent: client.userAgent?.slice(0, 300) ?? null, reason },
      }),
    );

  const wait = await lockedFor(sql, keys);
  if (wait > 0) {
    await record("sign-in-failed", null, "too_many_attempts");
    return { kind: "too_many_attempts", retryAfterS: wait };
  }
  const [user] = await sql<UserRow[]>`select * from users where email = ${email}`;
  const passwordOk = await Bun.password.verify(input.password, user?.password_hash ?? (await decoyHash()));
  if (!user || !passwordOk || user.disabled_at) {
    await recordFailure(sql, keys, settings.limits);
    const reason = !user ? "unknown_email" : !passwordOk ? "wrong_password" : "disabled";
    await record("sign-in-failed", user?.id ?? null, reason);
    return { kind: "invalid_credentials" };
  }
  let step: number | null = null;
  if (user.totp_enabled_at && user.totp_secret) {
    if (input.totp === undefined) {
      await record("sign-in-second-factor", user.id, "totp_required");
      return { kind: "totp_required", message: "enter the code of your authenticator app" };
    }
    step = acceptedStep(
      user.totp_secret,
      input.totp,
      user.totp_last_step === null ? null : Number(user.totp_last_step),
    );
    if (step === null) {
      await recordFailure(sql, keys, settings.limits);
      await record("sign-in-failed", user.id, "wrong_totp");
      return { kind: "totp_required", message: "the code is wrong or was already used" };
    }
  }
  await clearFailures(sql, keys, settings.limits);
  const token = await sql.begin(async (tx) => {
    // The step is taken in the same statement that checks it is newer: two sign-ins racing with one code cannot both win.
    if (step !== null) {
      const taken = await tx`
        update users set totp_last_step = ${step}
        where id = ${user.id} and (totp_last_step is null or totp_last_step < ${step})`;
      if (taken.count === 0) return null;
    }
    await tx`update users set last_sign_in_at = now() where id = ${user.id}`;
    const t = await createSession(tx, user.id, settings.sessions, client);
    await audit(tx, {
      actor: `user:${user.id}:${user.email}`,
      action: "sign-in",
      resource: "users",
      id: user.id,
      after: {
        email,
        ip: client.ip,
        user_agent: client.userAgent?.slice(0, 300) ?? null,
        second_factor: step !== null,
      },
    });
    return t;
  });
  if (token === null) {
    await record("sign-in-failed", user.id, "wrong_totp");
    return { kind: "totp_required", message: "the code is wrong or was already used" };
  }
  return { kind: "signed_in", user: publicUser(user), token };
}

export async function userById(sql: Sql, id: string): Promise<SessionUser> {
  const [u] = await sql<UserRow[]>`select * from users where id = ${id}`;
  if (!u) throw new HttpError(404, "not_found", "no such user", "id");
  return publicUser(u);
}

async function checkPassword(tx: Tx, userId: string, password: string, field: string): Promise<UserRow> {
  const [u] = await tx<UserRow[]>`select * from users where id = ${userId} for update`;
  if (!u) throw new HttpError(404, "not_found", "no such user", "id");
  if (!(await Bun.password.verify(password, u.password_hash)))
    throw new HttpError(403, "wrong_password", `${field}: not your current password`, field);
  return u;
}

/** A new password ends every other session of the user (a stolen session does not outlive it). */
export async function changePassword(
  sql: Sql,
  userId: string,
  sessionId: string | null,
  input: { current_password: string; new_password: string },
  who: string,
): Promise<void> {
  const hash = await hashPassword(input.new_password);
  await sql.begin(async (tx) => {
    await checkPassword(tx, userId, input.current_password, "current_password");
    await tx`update users set password_hash = ${hash}, updated_at = now() where id = ${userId}`;
    await tx`
      update user_sessions set revoked_at = now()
      where user_id = ${userId} and revoked_at is null and (${sessionId}::bigint is null or id <> ${sessionId}::bigint)`;
    await audit(tx, { actor: who, action: "change-password", resource: "users", id: userId });
  });
}

/** A new secret, not yet required at sign-in: enabling takes a code from it (the app has it right). */
export async function setUpTotp(sql: Sql, userId: string): Promise<{ secret: string; otpauth_uri: string }> {
  const secret = newTotpSecret();
  const [u] = await sql<{ email: string }[]>`
    update users set totp_secret = ${secret}, totp_last_step = null, updated_at = now()
    where id = ${userId} and totp_enabled_at is null returning email`;
  if (!u)
    throw new HttpError(
      409,
      "totp_enabled",
      "the second factor is already on; disable it first to change it",
    );
  return { secret, otpauth_uri: totpUri(secret, u.email) };
}

export async function enableTotp(sql: Sql, userId: string, code: string, who: string): Promise<void> {
  await sql.begin(async (tx) => {
    const [u] = await tx<UserRow[]>`select * from users where id = ${userId} for update`;
    if (!u?.totp_secret || u.totp_enabled_at)
      throw new HttpError(
        409,
        "totp_not_set_up",
        "set up the second factor first (POST /v1/auth/totp/setup)",
      );
    const step = acceptedStep(u.totp_secret, code, null);
    if (step === null)
      throw new HttpError(400, "invalid_request", "code: not the current code of that secret", "code");
    await tx`update users set totp_enabled_at = now(), totp_last_step = ${step}, updated_at = now() where id = ${userId}`;
    await audit(tx, { actor: who, action: "enable-totp", resource: "users", id: userId });
  });
}

/** Turning the second factor off takes the password and a current code. */
export async function disableTotp(
  sql: Sql,
  userId: string,
  input: { password: string; code: string },
  who: string,
): Promise<void> {
  await sql.begin(async (tx) => {
    const u = await checkPassword(tx, userId, input.password, "password");
    if (!u.totp_secret || !u.totp_enabled_at)
      throw new HttpError(409, "totp_not_enabled", "the second factor is not on");
    const step = acceptedStep(
      u.totp_secret,
      input.code,
      u.totp_last_step === null ? null : Number(u.totp_last_step),
    );
    if (step === null) throw new HttpError(403, "wrong_totp", "code: wrong or already used", "code");
    await tx`
      update users set totp_secret = null, totp_enabled_at = null, totp_last_step = null, updated_at = now()
      where id = ${userId}`;
    await audit(tx, { actor: who, action: "disable-totp", resource: "users", id: userId });
  });
}

type InvitationRow = {
  id: string;
  email: string;
  name: string;
  role: Role;
  affiliate_id: string | null;
  expires_at: Date;
  accepted_at: Date | null;
  revoked_at: Date | null;
};

/** An invitation that can still be accepted, by its token; 404 otherwise (whatever the reason). */
async function openInvitation(db: Sql | Tx, token: string, lock: boolean): Promise<InvitationRow> {
  const [inv] = await db<InvitationRow[]>`
    select id, email, name, role, affiliate_id, expires_at, accepted_at, revoked_at from user_invitations
    where token_hash = ${hashKey(token)} and accepted_at is null and revoked_at is null and expires_at > now()
    ${lock ? db`for update` : db``}`;
  if (!inv)
    throw new HttpError(
      404,
      "invitation_invalid",
      "this invitation is unknown, used, revoked or expired",
      "token",
    );
  return inv;
}

export async function inspectInvitation(sql: Sql, token: string) {
  const inv = await openInvitation(sql, token, false);
  return {
    email: inv.email,
    name: inv.name,
    role: inv.role,
    affiliate_id: inv.affiliate_id,
    expires_at: inv.expires_at,
  };
}

/**
 * Accepting sets the password and creates the user, once: the invitation row is locked and
 * marked accepted in the same transaction. The new user is signed in.
 */
export async function acceptInvitation(
  sql: Sql,
  settings: AuthSettings,
  input: { token: string; password: string; name?: string },
  client: Client,
): Promise<{ user: SessionUser; token: string }> {
  const hash = await hashPassword(input.password);
  return sql.begin(async (tx) => {
    const inv = await openInvitation(tx, input.token, true);
    const [existing] = await tx`select id from users where email = ${inv.email}`;
    if (existing)
      throw new HttpError(409, "user_exists", "a user with this email exists already; sign in", "token");
    const [user] = await tx<UserRow[]>`
      insert into users (email, name, role, affiliate_id, password_hash, last_sign_in_at)
      values (${inv.email}, ${input.name?.trim() || inv.name}, ${inv.role}, ${inv.affiliate_id}, ${hash}, now())
      returning *`;
    if (!user) throw new Error("insert returned nothing");
    await tx`update user_invitations set accepted_at = now(), user_id = ${user.id} where id = ${inv.id}`;
    const token = await createSession(tx, user.id, settings.sessions, client);
    const who = `user:${user.id}:${user.email}`;
    await audit(tx, {
      actor: who,
      action: "accept-invitation",
      resource: "users",
      id: user.id,
      after: { invitation_id: inv.id, email: user.email, role: user.role, affiliate_id: user.affiliate_id },
    });
    await audit(tx, {
      actor: who,
      action: "sign-in",
      resource: "users",
      id: user.id,
      after: {
        email: user.email,
        ip: client.ip,
        user_agent: client.userAgent?.slice(0, 300) ?? null,
        second_factor: false,
      },
    });
    return { user: publicUser(user), token };
  });
}

/**
 * The first admin user, from the environment (`bun run up` sets it and prints it): created when no
 * user has the email, never changed afterwards — a password changed in the console survives a
 * restart. Several replicas may race here; the unique email lets one win.
 */
export async function ensureBootstrapUser(sql: Sql, email: string, password: string): Promise<void> {
  const address = normaliseEmail(email);
  const [existing] = await sql`select id from users where email = ${address}`;
  if (existing) return;
  const hash = await hashPassword(password);
  await sql.begin(async (tx) => {
    const [user] = await tx<{ id: string }[]>`
      insert into users (email, name, role, password_hash) values (${address}, 'Admin', 'admin', ${hash})
      on conflict (email) do nothing returning id`;
    if (user)
      await audit(tx, {
        actor: "service:admin",
        action: "create",
        resource: "users",
        id: user.id,
        after: { email: address, role: "admin", source: "ADMIN_BOOTSTRAP_EMAIL" },
      });
  });
}
