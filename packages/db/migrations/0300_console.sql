-- The operator's console (admin): test-traffic flag, report rollups, validation runs, and the
-- indexes the conversion trace and the reports read by.

-- Test traffic (launch validation runs) is flagged on the affiliate; a conversion inherits the
-- flag when it is inserted, whoever inserts it, so reports and payouts can skip it by one column.
alter table affiliates add column is_test boolean not null default false;
alter table conversions add column is_test boolean not null default false;

create function conversions_inherit_test_flag() returns trigger
language plpgsql as $$
begin
  if exists (select 1 from affiliates where id = new.affiliate_id and is_test) then
    new.is_test := true;
  end if;
  return new;
end $$;
create trigger conversions_inherit_test_flag before insert on conversions
  for each row execute function conversions_inherit_test_flag();

-- The report rollup: one row per UTC hour and (offer, affiliate, event, currency, sub1…sub5),
-- maintained by admin's durable consumers (reports-clicks, reports-conversions,
-- reports-commissions) through the inbox, so every message adds its delta exactly once.
-- Click rows have event '' and the offer's currency; conversion rows the conversion's currency;
-- payout/revenue rows the ledger entry's currency. Status counts move with each change
-- (pending -1, approved +1), so they always show the current status of the hour's conversions.
create table report_hourly (
  hour timestamptz not null,
  offer_id bigint not null,
  affiliate_id bigint not null,
  event text not null default '',
  currency char(3) not null,
  sub1 text not null default '',
  sub2 text not null default '',
  sub3 text not null default '',
  sub4 text not null default '',
  sub5 text not null default '',
  brand_id bigint not null,
  advertiser_id bigint not null,
  clicks bigint not null default 0,
  unique_clicks bigint not null default 0,
  conversions bigint not null default 0,
  pending bigint not null default 0,
  approved bigint not null default 0,
  rejected bigint not null default 0,
  reversed bigint not null default 0,
  amount numeric(24, 6) not null default 0,
  payout numeric(24, 6) not null default 0,
  revenue numeric(24, 6) not null default 0,
  primary key (hour, offer_id, affiliate_id, event, currency, sub1, sub2, sub3, sub4, sub5)
);
-- Reports always bound the time; these serve the common filters inside that bound.
create index report_hourly_offer on report_hourly (offer_id, hour);
create index report_hourly_affiliate on report_hourly (affiliate_id, hour);
create index report_hourly_brand on report_hourly (brand_id, hour);
create index report_hourly_advertiser on report_hourly (advertiser_id, hour);

-- Where each conversion's deltas land, fixed by the first consumer that sees the conversion, so a
-- status change and its ledger entry always hit the same rollup row even if the click row (subs)
-- was stored between them.
create table report_conversion_keys (
  conversion_id bigint primary key,
  hour timestamptz not null,
  offer_id bigint not null,
  affiliate_id bigint not null,
  brand_id bigint not null,
  advertiser_id bigint not null,
  event text not null,
  sub1 text not null default '',
  sub2 text not null default '',
  sub3 text not null default '',
  sub4 text not null default '',
  sub5 text not null default '',
  is_test boolean not null default false
);

-- Postback requests per closed UTC hour, folded by admin from postback_log (append-only); an
-- hour is folded once it is over (plus a grace period), by replacing its rows, so folding again
-- gives the same figures. The open hour is read live.
create table report_postbacks_hourly (
  hour timestamptz not null,
  advertiser_id bigint not null, -- 0: the request never resolved an advertiser
  brand_id bigint not null, -- 0: unknown
  source text not null,
  outcome text not null,
  reason text not null default '',
  requests bigint not null,
  primary key (hour, advertiser_id, source, outcome, reason)
);
create table report_folds (
  name text not null,
  hour timestamptz not null,
  rows integer not null,
  folded_at timestamptz not null default now(),
  primary key (name, hour)
);

-- Launch validation runs: the pre-launch protocol executed against the live stack.
create table validation_runs (
  id bigint generated always as identity primary key,
  offer_id bigint not null references offers(id),
  status text not null default 'running' check (status in ('running', 'passed', 'failed', 'error')),
  settings jsonb not null default '{}',
  checks jsonb not null default '[]',
  postbacks_sent integer not null default 0,
  postbacks_ok integer not null default 0,
  postback_success_rate numeric(7, 4),
  affiliate_ids bigint[] not null default '{}',
  error text,
  created_by text not null,
  started_at timestamptz not null default now(),
  finished_at timestamptz
);
create index validation_runs_offer on validation_runs (offer_id, id);

-- Trace and report lookups.
create index postback_receipts_click on postback_receipts (click_id);
create index postback_receipts_txid on postback_receipts (txid) where txid is not null;
create index postback_receipts_received on postback_receipts (received_at);
create index postback_log_receipt on postback_log (receipt_id) where receipt_id is not null;
create index postback_log_received on postback_log (received_at);
-- Requests refused before a receipt existed, found by the click ID or txid they carried (under
-- whatever parameter name); only refused requests are indexed, so the accepted path pays nothing.
create index postback_log_refused_params on postback_log using gin (params jsonb_path_ops) where receipt_id is null;
create index conversions_receipt on conversions (receipt_id);
create index conversions_occurred on conversions (occurred_at);
create index conversions_txid_lookup on conversions (txid) where txid is not null;
create index conversion_history_receipt on conversion_history (receipt_id) where receipt_id is not null;
create index attribution_rejections_at on attribution_rejections (at);
create index deliveries_created on deliveries (created_at);
create index audit_log_resource on audit_log (resource, resource_id, id);
create index audit_log_at on audit_log (at);
-- An affiliate listing its own clicks over a period.
create index clicks_affiliate_time on clicks (affiliate_id, clicked_at);
