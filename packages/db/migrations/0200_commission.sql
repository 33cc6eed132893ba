-- Commission in full (issue 4): payout rule terms, FX rates, an immutable ledger with holds,
-- and the record of every decision so a payout can be explained to the cent.

-- Payout rules. A rule pays `payout` (fixed) plus `payout_percent` of the event amount, and the
-- advertiser pays `revenue` plus `revenue_percent`; `model` says which parts a rule may use
-- (cpa: fixed only, revshare: percent only, hybrid: both). Until now a revshare rule kept its
-- percentage in `payout`; it moves to `payout_percent`.
alter table payout_rules
  add column payout_percent numeric(9, 6) not null default 0 check (payout_percent between 0 and 100),
  add column revenue_percent numeric(9, 6) not null default 0 check (revenue_percent between 0 and 100),
  -- [{"from": 11, "payout": "150", "payout_percent": "0"}, …]: from the 11th qualifying
  -- conversion in the period on, the tier's terms replace the rule's payout terms.
  add column tiers jsonb not null default '[]',
  add column tier_period text not null default 'month' check (tier_period in ('day', 'month', 'all')),
  add column cap_daily integer check (cap_daily > 0),
  add column cap_monthly integer check (cap_monthly > 0),
  add column cap_scope text not null default 'affiliate' check (cap_scope in ('affiliate', 'offer')),
  add column cap_action text not null default 'zero' check (cap_action in ('zero', 'reject')),
  -- The advertiser's `payout` parameter replaces the computed payout only when accepted here and
  -- inside the bounds (in the rule's currency).
  add column advertiser_payout text not null default 'ignore' check (advertiser_payout in ('ignore', 'accept')),
  add column advertiser_payout_min numeric(20, 6) check (advertiser_payout_min >= 0),
  add column advertiser_payout_max numeric(20, 6) check (advertiser_payout_max >= 0),
  -- Approved commissions become payable this many days after approval.
  add column hold_days integer not null default 0 check (hold_days between 0 and 3650),
  add column status text not null default 'active' check (status in ('active', 'archived')),
  add column archived_at timestamptz;
update payout_rules set payout_percent = payout, payout = 0 where model = 'revshare';
alter table payout_rules
  add constraint payout_rules_model_terms check (
    (model <> 'cpa' or payout_percent = 0) and (model <> 'revshare' or payout = 0)),
  add constraint payout_rules_override_bounds check (
    advertiser_payout_min is null or advertiser_payout_max is null or advertiser_payout_min <= advertiser_payout_max);
drop index payout_rules_lookup;
create index payout_rules_lookup on payout_rules (offer_id, event, affiliate_id) where status = 'active';

-- FX rates as data: 1 `base` = `rate` `quote` from `effective_at` on, until a later rate for
-- the same pair. A conversion uses the rate in force at its event time.
create table fx_rates (
  id bigint generated always as identity primary key,
  base char(3) not null check (base ~ '^[A-Z]{3}$'),
  quote char(3) not null check (quote ~ '^[A-Z]{3}$'),
  rate numeric(24, 12) not null check (rate > 0),
  effective_at timestamptz not null,
  source text not null default 'admin',
  created_at timestamptz not null default now(),
  check (base <> quote),
  unique (base, quote, effective_at)
);
create index fx_rates_base on fx_rates (base, effective_at);
create index fx_rates_quote on fx_rates (quote, effective_at);

-- Ledger entries grow the figures every consumer of the ledger needs: the payout in the
-- affiliate's payout currency (balances add these), payout and revenue in the brand's reporting
-- currency, the hold, and how the figures were reached. `payout`/`revenue`/`currency` stay the
-- deal figures (the rule's currency). Adjustments belong to no conversion.
alter table ledger_entries
  alter column conversion_id drop not null,
  alter column change_seq drop not null,
  alter column offer_id drop not null,
  add column brand_id bigint,
  add column occurred_at timestamptz,
  -- null: held until the conversion is approved (ledger_releases); else payable from then on
  add column available_at timestamptz,
  add column affiliate_payout numeric(20, 6),
  add column affiliate_currency char(3),
  add column reporting_payout numeric(20, 6),
  add column reporting_revenue numeric(20, 6),
  add column reporting_currency char(3),
  add column reverses_entry_id bigint references ledger_entries(id),
  add column reason text,
  add column actor text,
  add column idempotency_key text unique,
  add column calculation jsonb not null default '{}';
update ledger_entries set
  affiliate_payout = payout, affiliate_currency = currency,
  reporting_payout = payout, reporting_revenue = revenue, reporting_currency = currency,
  available_at = created_at;
alter table ledger_entries
  alter column affiliate_payout set not null,
  alter column affiliate_currency set not null,
  add constraint ledger_entries_conversion check (type = 'adjustment' or conversion_id is not null);
create index ledger_entries_conversion on ledger_entries (conversion_id);
create index ledger_entries_affiliate on ledger_entries (affiliate_id, affiliate_currency);

-- Immutable money: corrections are new entries (reversal, adjustment), never edits.
create function ledger_entries_immutable() returns trigger
language plpgsql as $$
begin
  raise exception 'ledger entries are immutable: book a reversal or an adjustment instead'
    using errcode = 'restrict_violation';
end $$;
create trigger ledger_entries_immutable before update or delete on ledger_entries
  for each row execute function ledger_entries_immutable();

-- A held (pending) commission is released when its conversion is approved: payable from
-- `available_at` (approval + the rule's hold days). Insert-only, one per conversion.
create table ledger_releases (
  conversion_id bigint primary key references conversions(id),
  change_seq integer not null,
  available_at timestamptz not null,
  created_at timestamptz not null default now()
);

-- How each conversion was priced, fixed at its first earning status: the rule, the tier, the
-- cap verdict, the FX rates. Tier and cap counts read these rows ("qualifying" = booked and not
-- reversed), inside a per-(offer, event) lock.
create table commission_bookings (
  conversion_id bigint primary key references conversions(id),
  change_seq integer not null,
  offer_id bigint not null,
  event text not null,
  affiliate_id bigint not null,
  brand_id bigint not null,
  rule_id bigint references payout_rules(id),
  occurred_at timestamptz not null,
  -- calendar day and month of the event in the brand's timezone
  period_day date not null,
  period_month date not null,
  outcome text not null check (outcome in ('booked', 'capped_zero', 'capped_rejected', 'no_rule')),
  tier integer not null default 0,
  qualifying_count integer,
  hold_days integer not null default 0,
  affiliate_currency char(3) not null,
  created_at timestamptz not null default now()
);
create index commission_bookings_affiliate_month on commission_bookings (offer_id, event, affiliate_id, period_month);
create index commission_bookings_offer_month on commission_bookings (offer_id, event, period_month);

-- Every conversion change commission has settled, with what it did: the business key that makes
-- a replayed message harmless, and the order check (a change older than one already settled is
-- stale and moves no money).
create table commission_changes (
  conversion_id bigint not null references conversions(id),
  change_seq integer not null,
  status text not null,
  outcome text not null,
  entry_id bigint references ledger_entries(id),
  created_at timestamptz not null default now(),
  primary key (conversion_id, change_seq)
);
