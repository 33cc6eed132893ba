-- Tracking you can defend (issue 3): advertiser authentication and intake settings, replay
-- protection for signed postbacks, brand and import references on the request log, windowed
-- dedup without a txid, the pixel/S2S hybrid, refunds that reference a txid, conversion caps.

-- Per advertiser, each check is on when configured and all configured checks must pass:
--   token        token_hash is not null (existing column)
--   signature    an unexpired row in advertiser_signing_keys
--   IP allowlist ip_allowlist is not empty (CIDRs or single addresses, IPv4 and IPv6)
alter table advertisers
  add column ip_allowlist jsonb not null default '[]',
  -- Postbacks per second per gateway replica; null = the gateway's default.
  add column rate_limit_per_second integer check (rate_limit_per_second between 1 and 1000000),
  -- Browser pixels cannot carry a secret, so the operator opts in per advertiser.
  add column pixel_enabled boolean not null default false,
  -- Postbacks without a txid are the same conversion when (click ID, event) repeats within this window.
  add column dedup_window_hours integer not null default 24 check (dedup_window_hours between 1 and 8760);

-- HMAC-SHA256 secrets for signed postbacks. The secret has to be kept readable (HMAC needs it);
-- the column is named `secret` so the admin API's write-only filter never returns it. During a
-- rotation the old secret keeps verifying until expires_at.
create table advertiser_signing_keys (
  id bigint generated always as identity primary key,
  advertiser_id bigint not null references advertisers(id),
  secret text not null check (length(secret) >= 32),
  created_at timestamptz not null default now(),
  expires_at timestamptz
);
create index advertiser_signing_keys_advertiser on advertiser_signing_keys (advertiser_id);

-- Signatures already used, so a captured signed request cannot be replayed inside the timestamp
-- tolerance. Shared by every gateway replica; rows are useless after expires_at (the timestamp
-- check refuses the request anyway) and are deleted in batches.
create table postback_signatures (
  advertiser_id bigint not null,
  signature text not null,
  expires_at timestamptz not null,
  primary key (advertiser_id, signature)
);
create index postback_signatures_expires_at on postback_signatures (expires_at);

-- Brand on every record; CSV import rows point back at their import and row number.
alter table postback_log
  add column brand_id bigint,
  add column import_id bigint,
  add column import_row integer;
create index postback_log_import on postback_log (import_id, import_row) where import_id is not null;

-- A refund or chargeback names the transaction it undoes (or reuses its txid).
alter table postback_receipts add column ref_txid text;
-- Windowed dedup without a txid looks up recent receipts of one click and event.
create index postback_receipts_click_event on postback_receipts (advertiser_id, click_id, event, received_at)
  where txid is null;

create table imports (
  id bigint generated always as identity primary key,
  created_at timestamptz not null default now(),
  actor text not null,
  advertiser_id bigint references advertisers(id),
  filename text,
  row_count integer not null default 0,
  accepted integer not null default 0,
  duplicates integer not null default 0,
  rejected integer not null default 0
);

-- Conversions: where they came from, and the click's details once its row is stored.
alter table conversions
  add column source text not null default 's2s' check (source in ('s2s', 'pixel', 'import')),
  add column subs jsonb,
  add column ip text,
  add column user_agent text,
  add column enriched_at timestamptz;
-- Windowed dedup without a txid and the pixel/S2S hybrid look conversions up by click and event.
create index conversions_click_event on conversions (click_id, event, occurred_at);
create index conversions_txid_any on conversions (advertiser_id, txid) where txid is not null;

-- Everything attribution refused or folded into an existing conversion, by reason code.
alter table attribution_rejections
  add column brand_id bigint,
  add column conversion_id bigint,
  add column source text;
create index attribution_rejections_reason on attribution_rejections (advertiser_id, reason, at);

-- A refund/chargeback that arrived before the conversion it reverses: applied when that
-- conversion is created, so out-of-order delivery still ends reversed.
create table pending_reversals (
  advertiser_id bigint not null,
  txid text not null,
  receipt_id bigint not null,
  event text not null,
  received_at timestamptz not null default now(),
  applied_at timestamptz,
  primary key (advertiser_id, txid, receipt_id)
);

-- Conversion caps per offer and event (payout caps are commission's): a conversion over the cap
-- is refused with reason over_cap. Days and months are the brand's time zone.
alter table offer_events
  add column cap_daily integer check (cap_daily > 0),
  add column cap_monthly integer check (cap_monthly > 0);

create table offer_cap_usage (
  offer_id bigint not null,
  event text not null,
  period text not null check (period in ('day', 'month')),
  period_start date not null,
  used integer not null default 0,
  primary key (offer_id, event, period, period_start)
);
