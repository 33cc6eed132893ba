-- Daily report rollup, by the day in the brand's time zone: long-period reports (day, week, month
-- or no time dimension) read one row per day instead of 24, maintained by the same consumers in
-- the same transaction as report_hourly.
create table report_daily (
  day date not null,
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
  primary key (day, offer_id, affiliate_id, event, currency, sub1, sub2, sub3, sub4, sub5)
);
create index report_daily_offer on report_daily (offer_id, day);
create index report_daily_affiliate on report_daily (affiliate_id, day);
create index report_daily_brand on report_daily (brand_id, day);
create index report_daily_advertiser on report_daily (advertiser_id, day);

-- The brand-local day of a conversion is fixed with its other dimensions.
alter table report_conversion_keys add column day date;
update report_conversion_keys k set day = (k.hour at time zone b.timezone)::date from brands b where b.id = k.brand_id;

-- Whatever the hourly rollup already holds.
insert into report_daily
select (r.hour at time zone b.timezone)::date, r.offer_id, r.affiliate_id, r.event, r.currency,
       r.sub1, r.sub2, r.sub3, r.sub4, r.sub5, r.brand_id, r.advertiser_id,
       sum(r.clicks), sum(r.unique_clicks), sum(r.conversions), sum(r.pending), sum(r.approved),
       sum(r.rejected), sum(r.reversed), sum(r.amount), sum(r.payout), sum(r.revenue)
from report_hourly r join brands b on b.id = r.brand_id
group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12;
