-- Unique clicks for the whole cluster (issue 11): which click opened each visitor's 24-hour
-- window, decided where every replica's clicks meet — the consumers of CLICKS, batch by batch
-- (packages/db/src/unique-visits.ts) — instead of in each click replica's memory, where a visitor
-- spread over N replicas counted unique up to N times. `visitor` is a keyed hash of link, IP and
-- user agent (the click service's CLICK_ID_KEYS are the key); rows older than the window are pruned.
create table click_visitors (
  visitor text primary key,
  click_id text not null,
  first_at timestamptz not null
);
create index click_visitors_first_at on click_visitors (first_at);
