import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia } from "elysia";
import { lastUsedRecorder } from "./last-used.ts";

export type Role = "admin" | "manager" | "analyst" | "affiliate";
export type Principal = { keyId: string; name: string; role: Role; affiliateId: string | null };

export function hashKey(key: string): string {
  return new Bun.CryptoHasher("sha256").update(key).digest("hex");
}

/** A new API key: high-entropy, prefixed so a leaked key is recognisable in logs and scanners. */
export function newApiKey(): string {
  return `rt_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url")}`;
}

/** Ensures the operator's bootstrap key exists (idempotent; several replicas may race here). */
export async function ensureBootstrapKey(sql: Sql, key: string): Promise<void> {
  await sql`
    insert into api_keys (name, role, key_hash, key_prefix)
    values ('bootstrap', 'admin', ${hashKey(key)}, ${key.slice(0, 8)})
    on conflict (key_hash) do nothing`;
}

/** `Authorization: Bearer <key>` → the principal; 401 for a missing, unknown or revoked key. */
export function authentication(sql: Sql) {
  const recordUse = lastUsedRecorder(sql);
  return new Elysia({ name: "roundtrip-auth" }).derive({ as: "scoped" }, async ({ headers }) => {
    const header = headers.authorization ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match)
      throw new HttpError(401, "unauthorized", "an API key is required: Authorization: Bearer <key>");
    const [row] = await sql<{ id: string; name: string; role: Role; affiliate_id: string | null }[]>`
      select id, name, role, affiliate_id from api_keys
      where key_hash = ${hashKey(match[1] as string)} and revoked_at is null`;
    if (!row) throw new HttpError(401, "unauthorized", "unknown or revoked API key");
    await recordUse(row.id);
    const principal: Principal = {
      keyId: row.id,
      name: row.name,
      role: row.role,
      affiliateId: row.affiliate_id,
    };
    return { principal };
  });
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

export function actor(p: Principal): string {
  return `api-key:${p.keyId}:${p.name}`;
}
