/**
 * `Idempotency-Key` on every POST of the API (Stripe's semantics): the first request with a key
 * runs and its answer (status and JSON body, errors below 500 included) is stored for 24 hours;
 * the same key with the same method, path and body answers that stored answer again
 * (`Idempotent-Replayed: true`); the same key with another request is a 409
 * `idempotency_key_reused`; a request arriving while the first with its key still runs is a 409
 * `idempotency_key_in_use` (retry later). A 5xx or a non-JSON answer is not kept, so a retry runs
 * again. Keys are scoped per caller (API key or user), so two callers never share one. A secret
 * shown once is not kept with the answer: a replay withholds it (`withoutSecrets`).
 */
import type { Sql } from "@roundtrip/db";
import { deleteUntilShort } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia } from "elysia";
import type { Principal } from "./auth.ts";

export const IDEMPOTENCY_HEADER = "idempotency-key";
export const REPLAYED_HEADER = "idempotent-replayed";
/** How long a key is remembered (Stripe: 24 hours). */
export const IDEMPOTENCY_TTL_HOURS = 24;
const KEY = /^[\x21-\x7e]{1,255}$/;

/** Requests that may carry a key: every POST of the API but signing in (no caller yet). */
export const idempotentRequest = (method: string, path: string) =>
  method === "POST" && path.startsWith("/v1/") && !path.startsWith("/v1/auth/");

type Pending = { scope: string; key: string };
const pending = new WeakMap<Request, Pending>();

function requestHash(method: string, path: string, body: unknown): string {
  return new Bun.CryptoHasher("sha256")
    .update(`${method} ${path}\n${JSON.stringify(body ?? null)}`)
    .digest("hex");
}

async function release(sql: Sql, p: Pending): Promise<void> {
  await sql`delete from idempotency_keys where scope = ${p.scope} and key = ${p.key} and status is null`;
}

/**
 * Fields that carry a secret shown once (an API key, a postback token, a signing secret, an
 * invitation token). They are never stored with the answer: the database keeps only their hashes,
 * and a copy here would keep the secret itself for a day. A replay answers with WITHHELD in their
 * place — the client that lost the first answer rotates the secret.
 */
const SECRET_FIELDS = new Set(["key", "token", "secret", "signing_secret"]);
export const WITHHELD = "(withheld: shown once, in the first answer)";

function withoutSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (!value || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      SECRET_FIELDS.has(k) && typeof v === "string" ? WITHHELD : withoutSecrets(v),
    ]),
  );
}

async function remember(sql: Sql, p: Pending, status: number, body: unknown): Promise<void> {
  const stored = withoutSecrets(JSON.parse(JSON.stringify(body ?? null)));
  await sql`update idempotency_keys set status = ${status}, response = ${sql.json(stored as never)}
            where scope = ${p.scope} and key = ${p.key}`;
}

export function idempotency(sql: Sql) {
  return new Elysia({ name: "idempotency" })
    .onBeforeHandle({ as: "global" }, async (ctx) => {
      const { request, body, path } = ctx;
      const key = request.headers.get(IDEMPOTENCY_HEADER);
      if (key === null || !idempotentRequest(request.method, path)) return;
      if (!KEY.test(key))
        throw new HttpError(
          400,
          "invalid_request",
          "Idempotency-Key: 1 to 255 printable ASCII characters",
          "Idempotency-Key",
        );
      // Set by the route's authentication (which ran before this hook); none means the route answers 401 itself.
      const principal = (ctx as unknown as { principal?: Principal }).principal;
      if (!principal) return;
      const scope = `${principal.kind}:${principal.id}`;
      const hash = requestHash(request.method, path, body);
      const [claimed] = await sql`
        insert into idempotency_keys (scope, key, request_hash, expires_at)
        values (${scope}, ${key}, ${hash}, now() + make_interval(hours => ${IDEMPOTENCY_TTL_HOURS}))
        on conflict (scope, key) do update set request_hash = excluded.request_hash, status = null,
          response = null, created_at = now(), expires_at = excluded.expires_at
          where idempotency_keys.expires_at < now()
        returning key`;
      if (claimed) {
        pending.set(request, { scope, key });
        return;
      }
      const [first] = await sql<{ request_hash: string; status: number | null; response: unknown }[]>`
        select request_hash, status, response from idempotency_keys where scope = ${scope} and key = ${key}`;
      if (!first || first.request_hash !== hash)
        throw new HttpError(
          409,
          "idempotency_key_reused",
          "Idempotency-Key: already used with another request (method, path or body); use a new key",
          "Idempotency-Key",
        );
      if (first.status === null)
        throw new HttpError(
          409,
          "idempotency_key_in_use",
          "Idempotency-Key: the first request with this key is still running; retry later",
          "Idempotency-Key",
        );
      return new Response(JSON.stringify(first.response), {
        status: first.status,
        headers: { "content-type": "application/json", [REPLAYED_HEADER]: "true" },
      });
    })
    .onAfterHandle({ as: "global" }, async ({ request, response, set }) => {
      const p = pending.get(request);
      if (!p) return;
      pending.delete(request);
      const status = typeof set.status === "number" ? set.status : 200;
      if (response instanceof Response || status >= 500) await release(sql, p);
      else await remember(sql, p, status, response);
    })
    .onError({ as: "global" }, async ({ request, error }) => {
      const p = pending.get(request);
      if (!p) return;
      pending.delete(request);
      // An expected refusal (4xx) is the answer to this request; anything else may pass on retry.
      if (error instanceof HttpError && error.status < 500) {
        await remember(sql, p, error.status, {
          error: { code: error.code, message: error.message, ...(error.field ? { field: error.field } : {}) },
        });
      } else await release(sql, p);
    });
}

/** Forgets expired keys in short batches; admin runs it every few minutes. */
export async function pruneIdempotencyKeys(sql: Sql): Promise<number> {
  return deleteUntilShort({ batch: 5_000 }, async (limit) => {
    const rows = await sql`
      delete from idempotency_keys where ctid in (
        select ctid from idempotency_keys where expires_at < now() limit ${limit})
      returning 1`;
    return rows.length;
  });
}
