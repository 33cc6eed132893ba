import { type Bus, subjects } from "@roundtrip/bus";
import type { Sql, Tx } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { actor, assertCanWrite, type Principal } from "./auth.ts";

/** Every configuration change leaves who, when, what, before and after, in the same transaction. */
export async function audit(
  tx: Tx,
  entry: {
    actor: string;
    action: string;
    resource: string;
    id: string | null;
    before?: unknown;
    after?: unknown;
  },
): Promise<void> {
  await tx`
    insert into audit_log (actor, action, resource, resource_id, before, after)
    values (${entry.actor}, ${entry.action}, ${entry.resource}, ${entry.id},
            ${entry.before === undefined ? null : tx.json(redact(entry.before) as never)},
            ${entry.after === undefined ? null : tx.json(redact(entry.after) as never)})`;
}

/**
 * A created record: the insert and its audit entry commit together, then the caches hear of it
 * (`bus` null for records no cache holds). `insert` runs in the transaction and returns the new
 * row, or throws the HTTP error to answer.
 */
export async function createAudited<T extends Record<string, unknown>>(
  sql: Sql,
  bus: Bus | null,
  principal: Principal,
  resource: string,
  insert: (tx: Tx) => Promise<T>,
): Promise<T> {
  const row = (await sql.begin(async (tx) => {
    const created = await insert(tx);
    await audit(tx, {
      actor: actor(principal),
      action: "create",
      resource,
      id: String(created.id),
      after: created,
    });
    return created;
  })) as T;
  if (bus) await announce(bus, resource, String(row.id));
  return row;
}

/**
 * A changed record (created when `before` is null): the write and its audit entry commit together.
 * Only writers (admin, manager) get here; `write` returns the record before and after, as they
 * may be shown (masked).
 */
export async function writeAudited<T>(
  sql: Sql,
  principal: Principal,
  target: { resource: string; id: string },
  write: (tx: Tx) => Promise<{ before: unknown; after: T }>,
): Promise<T> {
  assertCanWrite(principal);
  return (await sql.begin(async (tx) => {
    const { before, after } = await write(tx);
    await audit(tx, {
      actor: actor(principal),
      action: before ? "update" : "create",
      resource: target.resource,
      id: target.id,
      before: before ?? undefined,
      after,
    });
    return after;
  })) as T;
}

/** Deletes one row and audits it with the row as it was; 404 naming `what` when there is none. */
export async function deleteAudited(
  sql: Sql,
  principal: Principal,
  table: string,
  resource: string,
  id: string,
  what: string,
): Promise<{ deleted: true; id: string }> {
  return sql.begin(async (tx) => {
    const [before] = await tx`delete from ${tx(table)} where id = ${id} returning *`;
    if (!before) throw new HttpError(404, "not_found", `no such ${what}`, "id");
    await audit(tx, { actor: actor(principal), action: "delete", resource, id, before });
    return { deleted: true as const, id };
  }) as Promise<{ deleted: true; id: string }>;
}

/**
 * Tells the click and gateway caches to refresh. The change is already committed, and the caches
 * also refresh on a timer, so this is a best-effort signal: a plain NATS publish that waits for no
 * acknowledgement and never fails the request (a busy or unreachable broker only delays a change).
 */
export async function announce(bus: Bus, resource: string, id: string | null): Promise<void> {
  try {
    bus.nc.publish(bus.names.subject(subjects.configChanged(resource)), JSON.stringify({ resource, id }));
  } catch {
    // connection closed or draining: the caches' timer picks the change up
  }
}

const SECRET_FIELDS = new Set(["token", "token_hash", "key", "key_hash", "secret", "secrets"]);

function redact(value: unknown): unknown {
  if (!value || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, SECRET_FIELDS.has(k) ? "***" : v]),
  );
}
