-- Conversions API forwarding (issue 15): besides affiliate postbacks, a conversion is forwarded
-- to the ad platforms that bought the traffic — Meta Conversions API, Google Ads through the
-- Data Manager API, TikTok Events API — through the same deliveries table and sender (retries,
-- SSRF guard, per-endpoint limits and circuit, attempt log, dead letters, replays).

-- One destination: a platform account (Meta dataset/pixel, TikTok pixel, Google Ads customer)
-- for a brand, or one offer of it, and which of our events become which platform events.
create table conversion_destinations (
  id bigint generated always as identity primary key,
  brand_id bigint not null references brands(id),
  -- null: every offer of the brand; an offer's own destination wins over the brand's for the
  -- same platform account
  offer_id bigint references offers(id),
  platform text not null check (platform in ('meta', 'google', 'tiktok')),
  name text not null,
  -- Meta dataset (pixel) ID, TikTok pixel code, Google Ads customer ID (10 digits)
  platform_account text not null,
  -- Google only: the manager account the credentials sign in as, when it is not platform_account
  login_account text,
  -- Write-only (never returned by the API; the hint is what operators see). The sender adds it
  -- to the request when it goes out, so it is never in a delivery's URL, body or attempt log.
  access_token text not null,
  token_hint text not null,
  -- Meta only, optional: signs each request with appsecret_proof (HMAC-SHA256 of the token)
  app_secret text,
  -- our event code → {name (platform event; for Google the conversion action ID), value source}
  events jsonb not null default '{}',
  -- when a conversion is forwarded: as soon as it is booked (pending or approved) or once approved
  send_on text not null default 'booked' check (send_on in ('booked', 'approved')),
  -- which key of the click's subs holds the platform's click ID (fbclid, gclid, ttclid);
  -- null: the platform's own parameter name, which the click service captures
  click_id_sub text,
  -- Meta: the page the event happened on (action_source website needs one); TikTok: page.url
  event_source_url text,
  -- Meta and TikTok test event code: events go to the platform's test tool, not to ads
  test_event_code text,
  -- the platform's base URL (tests, a gateway); null: the platform's public API
  base_url text,
  status text not null default 'active' check (status in ('active', 'disabled')),
  disabled_reason text check (disabled_reason in ('operator', 'gone', 'failing')),
  disabled_at timestamptz,
  failing_since timestamptz,
  last_success_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz
);
create index conversion_destinations_brand on conversion_destinations (brand_id);

-- A platform delivery belongs to a destination instead of an affiliate's template, and to no
-- affiliate: it carries the visitor's IP and user agent, which affiliates never see, so the
-- affiliate-scoped read paths cannot reach it.
alter table deliveries
  alter column template_id drop not null,
  alter column affiliate_id drop not null,
  add column destination_id bigint references conversion_destinations(id),
  -- the platform's dedup key (Meta/TikTok event_id, Google transactionId): fixed when the
  -- delivery is planned, so every retry and replay sends the same one
  add column platform_event_id text,
  -- a platform refuses events older than its limit: not sent after this, marked skipped
  add column send_before timestamptz,
  add constraint deliveries_target check ((template_id is null) <> (destination_id is null)),
  add constraint deliveries_target_affiliate check (destination_id is null or affiliate_id is null);
-- 'skipped': deliberately not sent (too old for the platform, nothing to match it by); the
-- reason is in last_error
alter table deliveries drop constraint deliveries_status_check;
alter table deliveries add constraint deliveries_status_check
  check (status in ('pending', 'delivered', 'failed', 'dead', 'skipped'));
-- once per conversion and destination: the first change that qualifies is forwarded, later
-- status changes send nothing (platforms count a conversion once)
create unique index deliveries_destination on deliveries (conversion_id, destination_id) where destination_id is not null;
create index deliveries_destination_pending on deliveries (destination_id) where status = 'pending';
