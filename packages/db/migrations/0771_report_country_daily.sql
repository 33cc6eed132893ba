-- Issue 13: the performance report grouped or filtered by the visitor's country (offline GeoIP,
-- recorded on every click from now on). A rollup of its own, by the brand's day, maintained by the
-- same consumers in the same transaction as report_daily: country is left out of report_daily's
-- key, which would multiply its rows (sub IDs × countries) for every report that never asks.
-- Country '' = unknown (a private address, or traffic from before clicks recorded it).
create table report_country_daily (
  day date not null,
  offer_id bigint not null,
  affiliate_id bigint not null,
  country text not null default '',
  currency char(3) not null,
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
  primary key (day, offer_id, affiliate_id, country, currency)
);
create index report_country_daily_offer on report_country_daily (offer_id, day);
create index report_country_daily_affiliate on report_country_daily (affiliate_id, day);

-- A conversion's deltas land under its click's country, fixed once like its sub IDs.
alter table report_conversion_keys add column country text not null default '';
