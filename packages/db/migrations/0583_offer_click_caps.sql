-- Issue 13: click caps per offer (day and month in the brand's time zone, and lifetime). Once a
-- cap is reached the offer's traffic goes to its fallback URL at once: counted atomically across
-- click replicas by a conditional upsert on offer_click_usage (only for offers with a cap).
alter table offers
  add column click_cap_daily integer check (click_cap_daily > 0),
  add column click_cap_monthly integer check (click_cap_monthly > 0),
  add column click_cap_lifetime integer check (click_cap_lifetime > 0),
  add column fallback_url text;

create table offer_click_usage (
  offer_id bigint not null references offers(id),
  -- 'day', 'month' or 'lifetime' (period_start 1970-01-01)
  period text not null check (period in ('day', 'month', 'lifetime')),
  period_start date not null,
  used integer not null,
  primary key (offer_id, period, period_start)
);
