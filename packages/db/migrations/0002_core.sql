-- Configuration owned by admin. IDs are bigint identities: short in click IDs and URLs.

create table brands (
  id bigint generated always as identity primary key,
  slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name text not null,
  currency char(3) not null,
  timezone text not null default 'UTC',
  created_at timestamptz not null default now()
);

create table advertisers (
  id bigint generated always as identity primary key,
  brand_id bigint not null references brands(id),
  name text not null,
  -- The postback token is stored as a SHA-256 hash (it is a high-entropy secret, so no slow KDF is
  -- needed) plus a hint for operators; the token itself is shown once.
  token_hash text,
  token_hint text,
  param_aliases jsonb not null default '{}',
  status text not null default 'active' check (status in ('active', 'paused')),
  created_at timestamptz not null default now()
);

create table offers (
  id bigint generated always as identity primary key,
  brand_id bigint not null references brands(id),
  advertiser_id bigint not null references advertisers(id),
  name text not null,
  destination_url text not null,
  -- Parameter name appended with the click ID when the destination has no {click_id} macro.
  click_id_param text not null default 'click_id',
  currency char(3) not null,
  status text not null default 'active' check (status in ('active', 'paused')),
  created_at timestamptz not null default now()
);

create table offer_events (
  offer_id bigint not null references offers(id),
  code text not null check (code ~ '^[a-z0-9_]{1,40}$'),
  window_days integer not null default 30 check (window_days > 0),
  default_status text not null default 'approved' check (default_status in ('pending', 'approved')),
  primary key (offer_id, code)
);

create table affiliates (
  id bigint generated always as identity primary key,
  name text not null,
  payout_currency char(3) not null default 'EUR',
  status text not null default 'active' check (status in ('active', 'paused')),
  created_at timestamptz not null default now()
);

create table links (
  id bigint generated always as identity primary key,
  code text not null unique check (code ~ '^[A-Za-z0-9_-]{1,64}$'),
  offer_id bigint not null references offers(id),
  affiliate_id bigint not null references affiliates(id),
  status text not null default 'active' check (status in ('active', 'paused')),
  created_at timestamptz not null default now()
);

create table payout_rules (
  id bigint generated always as identity primary key,
  offer_id bigint not null references offers(id),
  event text not null,
  affiliate_id bigint references affiliates(id),
  model text not null check (model in ('cpa', 'revshare', 'hybrid')),
  payout numeric(20, 6) not null default 0,
  revenue numeric(20, 6) not null default 0,
  currency char(3) not null,
  created_at timestamptz not null default now()
);
create index payout_rules_lookup on payout_rules (offer_id, event);

create table affiliate_postbacks (
  id bigint generated always as identity primary key,
  affiliate_id bigint not null references affiliates(id),
  offer_id bigint references offers(id),
  event text,
  method text not null default 'GET' check (method in ('GET', 'POST')),
  url_template text not null,
  status text not null default 'active' check (status in ('active', 'disabled')),
  created_at timestamptz not null default now()
);
create index affiliate_postbacks_affiliate on affiliate_postbacks (affiliate_id);

create table api_keys (
  id bigint generated always as identity primary key,
  name text not null,
  role text not null check (role in ('admin', 'manager', 'analyst', 'affiliate')),
  affiliate_id bigint references affiliates(id),
  key_hash text not null unique,
  key_prefix text not null,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  check ((role = 'affiliate') = (affiliate_id is not null))
);

create table audit_log (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  actor text not null,
  action text not null,
  resource text not null,
  resource_id text,
  before jsonb,
  after jsonb
);

-- Raw clicks: append-only, partitioned by day. The click service writes them in batches;
-- partitions are created ahead by ensure_click_partitions() and the default partition catches
-- anything outside them rather than losing it.
create table clicks (
  click_id text not null,
  clicked_at timestamptz not null,
  link_id bigint not null,
  offer_id bigint not null,
  affiliate_id bigint not null,
  brand_id bigint not null,
  ip text,
  user_agent text,
  referrer text,
  subs jsonb not null default '{}',
  is_unique boolean not null default true,
  primary key (click_id, clicked_at)
) partition by range (clicked_at);
create table clicks_default partition of clicks default;
create index clicks_link_time on clicks (link_id, clicked_at);

create function ensure_daily_partitions(parent text, days_ahead integer) returns void
language plpgsql as $$
declare
  d date;
begin
  for d in select generate_series(current_date - 1, current_date + days_ahead, interval '1 day')::date loop
    if to_regclass(format('%s_%s', parent, to_char(d, 'YYYYMMDD'))) is null then
      begin
        execute format(
          'create table %I partition of %I for values from (%L) to (%L)',
          parent || '_' || to_char(d, 'YYYYMMDD'), parent, d, d + 1);
      exception when duplicate_table or invalid_object_definition then
        -- another replica created it first, or rows for that day already sit in the default
        -- partition (then they stay there; nothing is lost)
        null;
      end;
    end if;
  end loop;
end $$;

-- Every request the gateway receives, accepted or not (secrets masked before they get here).
create table postback_log (
  id bigint generated always as identity,
  received_at timestamptz not null default now(),
  advertiser_id bigint,
  source text not null,
  method text not null,
  params jsonb not null,
  ip text,
  outcome text not null,
  reason text,
  http_status integer not null,
  receipt_id bigint,
  primary key (id, received_at)
) partition by range (received_at);
create table postback_log_default partition of postback_log default;

-- Accepted postbacks. The dedup key makes a retried postback land on the same row.
create table postback_receipts (
  id bigint generated always as identity primary key,
  advertiser_id bigint not null references advertisers(id),
  brand_id bigint not null references brands(id),
  dedup_key text not null,
  source text not null default 's2s',
  click_id text,
  txid text,
  event text not null,
  status text,
  amount numeric(20, 6),
  payout numeric(20, 6),
  currency char(3),
  occurred_at timestamptz,
  received_at timestamptz not null default now(),
  duplicates integer not null default 0,
  unique (advertiser_id, dedup_key)
);

create table conversions (
  id bigint generated always as identity primary key,
  advertiser_id bigint not null,
  brand_id bigint not null,
  offer_id bigint not null,
  affiliate_id bigint not null,
  link_id bigint not null,
  click_id text not null,
  clicked_at timestamptz not null,
  txid text,
  event text not null,
  status text not null check (status in ('pending', 'approved', 'rejected', 'reversed')),
  amount numeric(20, 6),
  currency char(3) not null,
  occurred_at timestamptz not null,
  created_at timestamptz not null default now(),
  receipt_id bigint not null
);
create unique index conversions_txid on conversions (advertiser_id, txid, event) where txid is not null;
create index conversions_click on conversions (click_id);

create table conversion_history (
  conversion_id bigint not null references conversions(id),
  seq integer not null,
  status text not null,
  receipt_id bigint,
  reason text,
  at timestamptz not null default now(),
  primary key (conversion_id, seq)
);

-- Immutable money: a change is a new entry, never an update.
create table ledger_entries (
  id bigint generated always as identity primary key,
  conversion_id bigint not null references conversions(id),
  change_seq integer not null,
  affiliate_id bigint not null,
  offer_id bigint not null,
  type text not null check (type in ('commission', 'reversal', 'adjustment')),
  payout numeric(20, 6) not null,
  revenue numeric(20, 6) not null,
  currency char(3) not null,
  rule_id bigint,
  created_at timestamptz not null default now(),
  unique (conversion_id, change_seq, type)
);

create table deliveries (
  id bigint generated always as identity primary key,
  conversion_id bigint not null,
  change_seq integer not null,
  template_id bigint not null references affiliate_postbacks(id),
  affiliate_id bigint not null,
  method text not null,
  url text not null,
  body text,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed', 'dead')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  delivered_at timestamptz,
  unique (conversion_id, change_seq, template_id)
);
create index deliveries_due on deliveries (next_attempt_at) where status = 'pending';

create table delivery_attempts (
  id bigint generated always as identity primary key,
  delivery_id bigint not null references deliveries(id),
  attempt integer not null,
  started_at timestamptz not null,
  latency_ms integer,
  status_code integer,
  error text,
  response_excerpt text
);
create index delivery_attempts_delivery on delivery_attempts (delivery_id);

-- Postbacks attribution refused, with a reason code reports group by.
create table attribution_rejections (
  receipt_id bigint primary key,
  advertiser_id bigint not null,
  event text not null,
  reason text not null,
  at timestamptz not null default now()
);

-- Click counts per hour and link, maintained by attribution from CLICKS events (idempotently,
-- through the inbox), so reports never scan raw clicks.
create table click_stats_hourly (
  hour timestamptz not null,
  link_id bigint not null,
  offer_id bigint not null,
  affiliate_id bigint not null,
  brand_id bigint not null,
  clicks bigint not null default 0,
  unique_clicks bigint not null default 0,
  primary key (hour, link_id)
);
