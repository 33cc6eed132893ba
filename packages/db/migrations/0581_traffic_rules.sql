-- Issue 13: traffic-quality rules (docs/fraud.md). A rule is named by the reason code it records.

-- Per offer (offer_id set) or program-wide (offer_id null); absent = the built-in default
-- (packages/contracts/src/traffic-reasons.ts). `event` narrows a CTIT rule to one event.
-- `threshold`: seconds (ctit_*), clicks per minute (click_flood_*), hours (same_device window).
create table traffic_rules (
  id bigint generated always as identity primary key,
  offer_id bigint references offers(id),
  reason text not null,
  event text,
  threshold integer check (threshold is null or threshold > 0),
  action text not null check (action in ('flag', 'hold', 'reject')),
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index traffic_rules_scope on traffic_rules (coalesce(offer_id, 0), reason, coalesce(event, ''));

-- Operator-managed address lists. An `allow` list exempts its addresses from every IP rule.
create table ip_lists (
  id bigint generated always as identity primary key,
  name text not null unique,
  kind text not null check (kind in ('datacenter', 'vpn', 'tor', 'block', 'allow')),
  source text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create table ip_list_entries (
  list_id bigint not null references ip_lists(id) on delete cascade,
  range cidr not null,
  primary key (list_id, range)
);
create index ip_list_entries_range on ip_list_entries using gist (range inet_ops);

-- Clicks per minute per IP, affiliate + sub1, and link, counted by attribution's click consumer
-- (it sees every click replica's clicks); pruned after two hours.
create table click_velocity (
  scope text not null check (scope in ('ip', 'sub', 'link')),
  key text not null,
  minute timestamptz not null,
  clicks integer not null,
  primary key (scope, key, minute)
);

-- Every rule that fired on a conversion: what it measured and what it did.
create table conversion_rule_hits (
  conversion_id bigint not null references conversions(id),
  reason text not null,
  action text not null check (action in ('flag', 'hold', 'reject')),
  measured jsonb,
  at timestamptz not null default now(),
  primary key (conversion_id, reason)
);
create index conversion_rule_hits_reason on conversion_rule_hits (reason, at);

-- A conversion a rule held or flagged, until someone decides (the review queue).
create table conversion_reviews (
  conversion_id bigint primary key references conversions(id),
  state text not null check (state in ('held', 'flagged', 'approved', 'rejected')),
  reasons text[] not null,
  created_at timestamptz not null default now(),
  decided_by text,
  decided_at timestamptz,
  -- The reason an affiliate's postback names in {reject_reason} (a rule's code, or the reviewer's).
  reject_reason text,
  -- An approval the hold kept back (at creation or later): approving the review applies it.
  withheld_status text
);
create index conversion_reviews_open on conversion_reviews (created_at) where state in ('held', 'flagged');

-- Addresses an affiliate used to reach us (API keys now, console sign-ins when they record here):
-- a conversion from one of them is a self-referral.
create table affiliate_addresses (
  affiliate_id bigint not null references affiliates(id),
  ip inet not null,
  source text not null,
  first_seen_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  primary key (affiliate_id, ip, source)
);
create index affiliate_addresses_ip on affiliate_addresses (ip);

create index conversions_device on conversions (ip, user_agent, occurred_at) where ip is not null;

-- Click judgements shared by every CLICKS consumer: the first to judge a batch (by its first
-- click ID) counts it into click_velocity and records the clicks it flagged; the others read
-- that, so reports and attribution agree on which clicks were floods and none counts twice.
create table click_judged_batches (
  batch_key text primary key,
  judged_at timestamptz not null default now()
);
create table click_flags (
  batch_key text not null references click_judged_batches(batch_key) on delete cascade,
  click_id text not null,
  reasons text[] not null,
  primary key (batch_key, click_id)
);
