import type { Sql } from "@roundtrip/db";
import { type ProxyTrust, requestClientAddress } from "@roundtrip/intake";
import { HttpError } from "@roundtrip/service";
import { Elysia } from "elysia";
import { lastUsedRecorder } from "./last-used.ts";
import { CSRF_HEADER, csrfMatches, lookUpSession, SESSION_COOKIE, sessionTokenOf } from "./sessions.ts";
import { hashKey } from "./tokens.ts";

export { hashKey, newApiKey } from "./tokens.ts";

export type Role = "admin" | "manager" | "analyst" | "affiliate";
/**
 * Who is calling: a machine with an API key, or a person signed in to the console (a session
 * cookie). `id` is the key's or the user's; `name` the key's name or the user's email.
 */
export type Principal = {
  kind: "api-key" | "user";
  id: string;
  name: string;
  role: Role;
  affiliateId: string | null;
  /** The session a user's request came with (null for API keys). */
  sessionId: string | null;
};

/** Ensures the operator's bootstrap key exists (idempotent; several replicas may race here). */
export async function ensureBootstrapKey(sql: Sql, key: string): Promise<void> {
  await sql`
    insert into api_keys (name, role, key_hash, key_prefix)
    values ('bootstrap', 'admin', ${hashKey(key)}, ${key.slice(0, 8)})
    on conflict (key_hash) do nothing`;
}

/** Requests that change nothing: no CSRF token needed with a session cookie. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * The caller: `Authorization: Bearer <key>` for machines, else the console's session cookie.
 * A cookie-authenticated request that changes something must carry the session's CSRF token in
 * `X-CSRF-Token` (403 without): a browser sends the cookie on a forged cross-site request, but
 * only our own pages can read the token. API keys are never sent by a browser on their own, so
 * they need none. 401 for a missing, unknown or revoked key or session.
 */
export function authentication(sql: Sql) {
  const recordUse = lastUsedRecorder(sql);
  return new Elysia({ name: "roundtrip-auth" }).derive(
    { as: "scoped" },
    async ({ headers, request, server }) => {
      const header = headers.authorization;
      if (header !== undefined) {
        const principal = await keyPrincipal(sql, header, recordUse);
        const addresses = keyAddresses.get(sql);
        if (principal.affiliateId && addresses)
          await addresses.record(
            principal.affiliateId,
            requestClientAddress(request, server, addresses.trust),
          );
        return { principal };
      }
      const token = sessionTokenOf(headers.cookie);
      if (!token)
        throw new HttpError(401, "unauthorized", "sign in, or send an API key: Authorization: Bearer <key>");
      const session = await lookUpSession(sql, token);
      if (!session)
        throw new HttpError(401, "unauthorized", `the ${SESSION_COOKIE} session has ended; sign in again`);
      if (!SAFE_METHODS.has(request.method) && !csrfMatches(token, headers[CSRF_HEADER]))
        throw new HttpError(
          403,
          "csrf_required",
          `a signed-in change needs the ${CSRF_HEADER} header from sign-in or /v1/auth/me`,
        );
      const principal: Principal = {
        kind: "user",
        id: session.userId,
        name: session.email,
        role: session.role,
        affiliateId: session.affiliateId,
        sessionId: session.sessionId,
      };
      return { principal };
    },
  );
}

/**
 * Where an affiliate's API-key callers come from (docs/fraud.md, self-referral): set once per
 * admin app (its database and its proxy trust — the client address is the socket's, or a
 * trusted proxy's X-Forwarded-For, as for sign-ins). Kept per database so each app in a
 * process records with its own settings; an app that sets nothing records nothing.
 */
const keyAddresses = new WeakMap<
  Sql,
  { trust: ProxyTrust; record: (affiliateId: string, ip: string | null) => Promise<void> }
>();

export function recordKeyAddresses(sql: Sql, trust: ProxyTrust): void {
  keyAddresses.set(sql, { trust, record: affiliateAddressRecorder(sql) });
}

/**
 * Records an address an affiliate's API key was used from (`affiliate_addresses`, source
 * `api_key`): the self-referral rule compares conversion IPs with them. Written at most once per
 * `intervalMs` per affiliate and address and process, like a key's last use: a script polling
 * the API must not turn every read into a write.
 */
export function affiliateAddressRecorder(
  sql: Sql,
  intervalMs = 600_000,
): (affiliateId: string, ip: string | null) => Promise<void> {
  const written = new Map<string, number>();
  return async (affiliateId, ip) => {
    if (!ip) return;
    const key = `${affiliateId} ${ip}`;
    const now = Date.now();
    if (now - (written.get(key) ?? Number.NEGATIVE_INFINITY) < intervalMs) return;
    if (written.size >= 10_000) for (const [k, at] of written) if (now - at >= intervalMs) written.delete(k);
    written.set(key, now);
    await sql`
      insert into affiliate_addresses (affiliate_id, ip, source) values (${affiliateId}, ${ip}, 'api_key')
      on conflict (affiliate_id, ip, source) do update set last_seen_at = now()`;
  };
}

async function keyPrincipal(
  sql: Sql,
  header: string,
  recordUse: (id: string) => Promise<void>,
): Promise<Principal> {
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) throw new HttpError(401, "unauthorized", "an API key is required: Authorization: Bearer <key>");
  const [row] = await sql<{ id: string; name: string; role: Role; affiliate_id: string | null }[]>`
    select id, name, role, affiliate_id from api_keys
    where key_hash = ${hashKey(match[1] as string)} and revoked_at is null`;
  if (!row) throw new HttpError(401, "unauthorized", "unknown or revoked API key");
  await recordUse(row.id);
  return {
    kind: "api-key",
    id: row.id,
    name: row.name,
    role: row.role,
    affiliateId: row.affiliate_id,
    sessionId: null,
  };
}

const WRITERS: Role[] = ["admin", "manager"];

/** Configuration changes: admin and manager. */
export function assertCanWrite(p: Principal): void {
  if (!WRITERS.includes(p.role))
    throw new HttpError(403, "forbidden", `role ${p.role} cannot change configuration`);
}

export function assertAdmin(p: Principal): void {
  if (p.role !== "admin") throw new HttpError(403, "forbidden", "only an admin can do this");
}

/** Operator-only reads (configuration of other partners): everyone but affiliates. */
export function assertStaff(p: Principal): void {
  if (p.role === "affiliate") throw new HttpError(403, "forbidden", "not available to affiliate keys");
}

export function isAffiliate(p: Principal): boolean {
  return p.role === "affiliate";
}

/** How the audit log names the principal. */
export function actor(p: Principal): string {
  return `${p.kind}:${p.id}:${p.name}`;
}
