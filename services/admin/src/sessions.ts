/**
 * Console sessions: a random token in an HttpOnly, SameSite=Strict cookie, only its hash stored
 * (user_sessions). The CSRF token is derived from the session token, so a page that can read the
 * session's answers (same origin) can send it, and a page elsewhere that rides on the cookie
 * cannot know it. A session's role and status are the user's at each request.
 */
import type { Sql, Tx } from "@roundtrip/db";
import { parse as parseCookies, serialize as serializeCookie } from "cookie";
import { timingSafeEqual } from "node:crypto";
import type { Role } from "./auth.ts";
import { hashKey, randomToken } from "./tokens.ts";

export const SESSION_COOKIE = "rt_session";
export const CSRF_HEADER = "x-csrf-token";
/** Sliding expiry is written at most this often per session (one write a minute, not per request). */
const TOUCH_EVERY_S = 60;

export type SessionSettings = {
  /** A session unused for this long ends. */
  idleSeconds: number;
  /** A session ends this long after sign-in, however busy. */
  maxSeconds: number;
  /** `auto`: Secure when the request came over https (directly or per X-Forwarded-Proto). */
  secureCookie: "auto" | "always" | "never";
};

export const DEFAULT_SESSION_SETTINGS: SessionSettings = {
  idleSeconds: 12 * 3600,
  maxSeconds: 7 * 86400,
  secureCookie: "auto",
};

export type SessionUser = {
  userId: string;
  email: string;
  name: string;
  role: Role;
  affiliateId: string | null;
  totpEnabled: boolean;
  sessionId: string;
  csrfToken: string;
};

export function newSessionToken(): string {
  return randomToken(32);
}

/** The CSRF token that belongs to a session token (not stored: recomputed from the cookie). */
export function csrfTokenFor(sessionToken: string): string {
  return new Bun.CryptoHasher("sha256").update(`csrf:${sessionToken}`).digest("base64url");
}

/** Whether `sent` is the session's CSRF token, in constant time. */
export function csrfMatches(sessionToken: string, sent: string | null | undefined): boolean {
  if (!sent) return false;
  const expected = Buffer.from(csrfTokenFor(sessionToken));
  const given = Buffer.from(sent);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The session token from a Cookie header, if any. */
export function sessionTokenOf(cookieHeader: string | null | undefined): string | null {
  if (!cookieHeader) return null;
  const token = parseCookies(cookieHeader)[SESSION_COOKIE];
  // Our tokens are 43 base64url characters; anything else names no session.
  return token && /^[A-Za-z0-9_-]{43}$/.test(token) ? token : null;
}

/** Whether the cookie gets `Secure`, by the setting and how the request came in. */
export function secureFor(request: Request, setting: SessionSettings["secureCookie"]): boolean {
  if (setting !== "auto") return setting === "always";
  if (new URL(request.url).protocol === "https:") return true;
  // Set by a TLS-terminating proxy; a client that forges it only makes its own cookie https-only.
  return (request.headers.get("x-forwarded-proto") ?? "").split(",")[0]?.trim() === "https";
}

export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return serializeCookie(SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: "strict",
    secure,
    path: "/",
    maxAge: maxAgeSeconds,
  });
}

export function clearedSessionCookie(secure: boolean): string {
  return serializeCookie(SESSION_COOKIE, "", {
    httpOnly: true,
    sameSite: "strict",
    secure,
    path: "/",
    maxAge: 0,
  });
}

/** Starts a session for a user; returns the token for the cookie (never stored). */
export async function createSession(
  sql: Sql | Tx,
  userId: string,
  settings: SessionSettings,
  client: { ip: string | null; userAgent: string | null },
): Promise<string> {
  const token = newSessionToken();
  await sql`
    insert into user_sessions (user_id, token_hash, expires_at, idle_seconds, max_expires_at, ip, user_agent)
    values (${userId}, ${hashKey(token)},
            now() + make_interval(secs => ${Math.min(settings.idleSeconds, settings.maxSeconds)}),
            ${settings.idleSeconds}, now() + make_interval(secs => ${settings.maxSeconds}),
            ${client.ip}, ${client.userAgent?.slice(0, 300) ?? null})`;
  return token;
}

/**
 * The signed-in user behind a session token, or null when the session is unknown, ended, expired
 * or its user disabled. Extends the session's idle expiry (at most once a minute).
 */
export async function lookUpSession(sql: Sql, token: string): Promise<SessionUser | null> {
  const [row] = await sql<
    {
      session_id: string;
      user_id: string;
      email: string;
      name: string;
      role: Role;
      affiliate_id: string | null;
      totp_enabled: boolean;
      stale: boolean;
    }[]
  >`
    select s.id as session_id, u.id as user_id, u.email, u.name, u.role, u.affiliate_id,
           u.totp_enabled_at is not null as totp_enabled,
           s.last_seen_at < now() - make_interval(secs => ${TOUCH_EVERY_S}) as stale
    from user_sessions s join users u on u.id = s.user_id
    where s.token_hash = ${hashKey(token)} and s.revoked_at is null and s.expires_at > now()
      and u.disabled_at is null`;
  if (!row) return null;
  if (row.stale)
    await sql`
      update user_sessions
      set last_seen_at = now(), expires_at = least(now() + make_interval(secs => idle_seconds), max_expires_at)
      where id = ${row.session_id}`;
  return {
    userId: row.user_id,
    email: row.email,
    name: row.name,
    role: row.role,
    affiliateId: row.affiliate_id,
    totpEnabled: row.totp_enabled,
    sessionId: row.session_id,
    csrfToken: csrfTokenFor(token),
  };
}

export async function endSession(sql: Sql, sessionId: string): Promise<void> {
  await sql`update user_sessions set revoked_at = coalesce(revoked_at, now()) where id = ${sessionId}`;
}

/** Ends every session of a user but `keep` (a password change keeps the one that made it). */
export async function endSessionsOf(sql: Sql, userId: string, keep: string | null = null): Promise<number> {
  const r = await sql`
    update user_sessions set revoked_at = now()
    where user_id = ${userId} and revoked_at is null and (${keep}::bigint is null or id <> ${keep}::bigint)`;
  return r.count;
}
