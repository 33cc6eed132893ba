-- Server-side search (`q` on the lists: docs/console.md, "Lists") is `column::text ilike '%…%'`
-- over a few columns of each list, OR-ed. A B-tree cannot serve a pattern with a leading `%`, so
-- every search read the whole table. Trigram GIN indexes (pg_trgm, in PostgreSQL's contrib; a
-- trusted extension since PostgreSQL 13, so the database owner may create it) serve `ilike` with a
-- pattern of three characters or more: each arm of the OR becomes a bitmap scan of the index on
-- its column, and the arms are OR-ed (measured: docs/scaling.md, "Search indexes").
--
-- One multi-column index per table: GIN answers a condition on any of its columns. The
-- expressions are the ones the search writes (`conversion_id::text`…); a text column's `::text`
-- is no cast at all.
--
-- Not clicks: a trigram index there made inserting clicks about 20 times slower (200,000 clicks:
-- 105 s instead of 4–5 s) and is as large as the click rows themselves, on the table that takes
-- every redirect. A clicks search stays bounded by its time range (≤ 31 days, default one day)
-- and partition pruning instead.
--
-- A large existing installation: this migration runs in the migration transaction and so builds
-- each index while holding off writes to its table. To avoid that, create the same indexes by
-- name beforehand with `create index concurrently if not exists` (docs/scaling.md); `if not
-- exists` then leaves them as they are.
create extension if not exists pg_trgm;

create index if not exists conversions_search on conversions
  using gin (txid gin_trgm_ops, click_id gin_trgm_ops, event gin_trgm_ops);
create index if not exists deliveries_search on deliveries
  using gin (event_id gin_trgm_ops, platform_event_id gin_trgm_ops, last_error gin_trgm_ops,
    (last_status_code::text) gin_trgm_ops);
create index if not exists ledger_entries_search on ledger_entries
  using gin (reason gin_trgm_ops, type gin_trgm_ops, (conversion_id::text) gin_trgm_ops);
create index if not exists audit_log_search on audit_log
  using gin (actor gin_trgm_ops, action gin_trgm_ops, resource gin_trgm_ops, resource_id gin_trgm_ops);
