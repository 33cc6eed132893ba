-- Issue 13, EU privacy per brand: IP truncation on the click (null: the click service's
-- IP_TRUNCATE), the click cookie on or off, and how long raw visitor data (IPs, user agents,
-- referrers) is kept on clicks, conversions and logs before it is dropped (null: kept).
alter table brands
  add column ip_truncation text check (ip_truncation in ('none', 'last-octet')),
  add column click_cookie boolean not null default true,
  add column raw_retention_days integer check (raw_retention_days > 0);
