-- Idempotency-Key on admin creates (Stripe semantics): the first answer to a key is stored and
-- replayed for the same request; the same key with another request is refused. Scoped per caller.
create table idempotency_keys (
  scope text not null,            -- who sent it: api-key:<id> or user:<id>
  key text not null,
  request_hash text not null,     -- sha256 of method, path and body
  status integer,                 -- null while the first request is still running
  response jsonb,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null default now() + interval '24 hours',
  primary key (scope, key)
);
create index idempotency_keys_expires on idempotency_keys (expires_at);
