-- Outbound delivery in full (issue 4): POST bodies, endpoint health, signing secrets, and an
-- attempt log that says what happened without leaking secrets.

alter table affiliate_postbacks
  -- POST only: the body with macros (escaped for the content type); null = the standard JSON body
  add column body_template text,
  add column content_type text not null default 'application/json'
    check (content_type in ('application/json', 'application/x-www-form-urlencoded')),
  -- why a disabled template is disabled: by an operator, by the endpoint (410 Gone), or after
  -- failing for days. Deliveries for an endpoint disabled by the sender are dead-lettered, so
  -- they can be replayed once it is enabled again.
  add column disabled_reason text check (disabled_reason in ('operator', 'gone', 'failing')),
  add column disabled_at timestamptz,
  add column failing_since timestamptz,
  add column last_success_at timestamptz,
  add column updated_at timestamptz;

-- Standard Webhooks signing secrets per affiliate. Several may sign at once during a rotation:
-- the old one until `expires_at`. Write-only through the API (the sender needs the secret
-- itself to compute an HMAC, so it is stored, but never returned).
create table affiliate_webhook_secrets (
  id bigint generated always as identity primary key,
  affiliate_id bigint not null references affiliates(id),
  secret text not null,
  hint text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz
);
create index affiliate_webhook_secrets_affiliate on affiliate_webhook_secrets (affiliate_id);

alter table deliveries
  add column content_type text,
  -- attempts in the current retry cycle (a replay starts a new cycle; `attempts` keeps counting)
  add column cycle_attempts integer not null default 0,
  add column last_status_code integer,
  add column last_error text,
  add column dead_at timestamptz,
  add column replays integer not null default 0,
  -- W3C trace context of the change that planned the delivery, so the outbound request (and
  -- its span) continue the postback's trace to the affiliate's URL
  add column trace_context jsonb not null default '{}';
create index deliveries_template_pending on deliveries (template_id) where status = 'pending';
create index deliveries_affiliate on deliveries (affiliate_id, id);

alter table delivery_attempts
  add column url text,
  add column outcome text,
  add column retry_after_s integer,
  add column remote_address text;
