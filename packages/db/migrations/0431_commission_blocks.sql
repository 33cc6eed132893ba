-- A conversion change commission cannot book yet (no FX rate in force for its currencies) is
-- blocked, visibly: one row per conversion with the reason, shown in the trace and counted in
-- roundtrip_commission_blocked{reason}. Commission retries it on its own schedule and books it
-- once the cause is fixed (the rate loaded), then deletes the row; nothing waits in the broker.
create table commission_blocks (
  conversion_id bigint primary key references conversions(id),
  -- the latest change that could not be booked, settled again as it was
  change_seq integer not null,
  change jsonb not null,
  reason text not null check (reason in ('fx_rate_missing')),
  detail jsonb not null default '{}',
  message text not null,
  blocked_at timestamptz not null default now(),
  attempts integer not null default 1,
  last_attempt_at timestamptz not null default now()
);
create index commission_blocks_retry on commission_blocks (last_attempt_at);
