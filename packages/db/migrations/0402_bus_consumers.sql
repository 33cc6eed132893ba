-- Which durable consumers this deployment runs (docs/internals.md, "Delivery guarantees"). An
-- outbox event is owed until every consumer of its stream that must act on it has its inbox row;
-- a consumer the deployment switched off (admin's reports-* with REPORTS_ENABLED=false) never
-- writes one, so the service that owns it records it here as disabled, and the reconciler (in
-- other services' processes) stops waiting for it. No row = enabled: a consumer not yet started
-- is still waited for, so a fresh deployment loses nothing.
create table bus_consumers (
  consumer text primary key,
  enabled boolean not null,
  declared_at timestamptz not null default now()
);
