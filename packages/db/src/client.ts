import postgres from "postgres";

export type Sql = postgres.Sql;
/** The handle inside `sql.begin(tx => …)`; functions that must run in the caller's transaction take this. */
export type Tx = postgres.TransactionSql;

/**
 * One client (pool) per process. bigint columns come back as strings by default in `postgres`;
 * we keep that, because IDs and money in minor units must not pass through a float.
 */
export function createSql(
  url: string,
  options: { max?: number; application?: string; settings?: Record<string, string> } = {},
): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => {},
    // `settings`: server parameters every connection of the pool starts with (e.g. admin's
    // plan_cache_mode, services/admin/src/index.ts).
    connection: { ...options.settings, application_name: options.application ?? "roundtrip" },
  });
}
