-- Operator webhooks (issue 14): the operator's own endpoints for partner events (payout.paid,
-- payout.failed, statement.ready) — a URL subscribed to event types, signed with its own secrets
-- (Standard Webhooks, managed through /v1/webhook-secrets like an affiliate's) and sent through the
-- same delivery path as affiliate postbacks: retried, logged, dead-lettered, replayable, disabled
-- when gone or failing.
create table operator_webhooks (
  id bigint generated always as identity primary key,
  name text not null check (length(name) between 1 and 200),
  url text not null check (url ~ '^https?://'),
  events text[] not null check (
    cardinality(events) > 0 and events <@ array['payout.paid', 'payout.failed', 'statement.ready']),
  status text not null default 'active' check (status in ('active', 'disabled')),
  -- why the sender disabled it ('gone', 'failing'); null when an operator did
  disabled_reason text,
  disabled_at timestamptz,
  failing_since timestamptz,
  last_success_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- A signing secret belongs to an affiliate (its postbacks) or to an operator webhook.
alter table affiliate_webhook_secrets
  alter column affiliate_id drop not null,
  add column webhook_id bigint references operator_webhooks(id),
  add constraint affiliate_webhook_secrets_owner check ((affiliate_id is null) <> (webhook_id is null));
create index affiliate_webhook_secrets_webhook on affiliate_webhook_secrets (webhook_id) where webhook_id is not null;

-- A delivery goes to an affiliate's template, an ad platform's destination (0720) or an operator
-- webhook. An operator webhook's delivery names no affiliate (the event in its body does): the
-- rows an affiliate reads are those of its own affiliate_id, so the operator's endpoints never
-- show in an affiliate's list.
alter table deliveries
  add column webhook_id bigint references operator_webhooks(id),
  drop constraint deliveries_target,
  add constraint deliveries_target check (num_nonnulls(template_id, destination_id, webhook_id) = 1),
  add constraint deliveries_operator_private check (webhook_id is null or affiliate_id is null);
create unique index deliveries_operator_event on deliveries (event_id, webhook_id) where webhook_id is not null;
create index deliveries_webhook_pending on deliveries (webhook_id) where status = 'pending';
