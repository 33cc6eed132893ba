import type { Sql } from "@roundtrip/db";

/**
 * Records that an API key was used, at most once per `intervalMs` per key and process: writing
 * `api_keys.last_used_at` on every admin request turned each read into a write (a row version,
 * WAL, and a row lock two concurrent requests of one key queue on). "Last used" is for spotting
 * stale keys, so a minute's precision is plenty. The first use after a start always writes.
 */
export function lastUsedRecorder(sql: Sql, intervalMs = 60_000): (keyId: string) => Promise<void> {
  const written = new Map<string, number>();
  return async (keyId) => {
    const now = Date.now();
    if (now - (written.get(keyId) ?? Number.NEGATIVE_INFINITY) < intervalMs) return;
    // Bounded by the keys in use; forget the stale ones rather than grow with every key ever seen.
    if (written.size >= 10_000)
      for (const [id, at] of written) if (now - at >= intervalMs) written.delete(id);
    written.set(keyId, now);
    await sql`update api_keys set last_used_at = now() where id = ${keyId}`;
  };
}
