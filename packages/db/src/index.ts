export { createSql, type Sql, type Tx } from "./client.ts";
export { migrate, listMigrations, MIGRATIONS_DIR, type Migration } from "./migrate.ts";
export { type RateTake, SharedRateLimiter, type SharedRateLimiterOptions } from "./shared-rate.ts";
export { decideUniqueVisits, markRepeats, pruneVisitors, type VisitClick } from "./unique-visits.ts";
export { createTestDatabase, type TestDatabase } from "./test-database.ts";
export { deleteUntilShort, type PruneOptions } from "./prune.ts";
