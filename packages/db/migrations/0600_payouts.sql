-- Paying partners (issue 14): payment details, payout cycles and minimums, payout runs with an
-- immutable batch of lines, sub-affiliate shares, negative carryover and statements. Money still
-- moves only by ledger entries (packages/ledger); these tables say why and to whom.

-- New entry types:
--   sub_commission / sub_reversal — a parent's (tier 2) or grandparent's (tier 3) share of a
--     child's entry (`source_entry_id`), booked with it and reversed with it;
--   payout / payout_return — a payout line moving an amount from earned to paid, and a failed
--     line returning it to the balance (`payout_line_id`);
--   carryover — a period's negative balance reset to zero, or carried out of one period and
--     into the next.
alter table ledger_entries drop constraint ledger_entries_type_check;
alter table ledger_entries add constraint ledger_entries_type_check check (type in (
  'commission', 'reversal', 'adjustment', 'sub_commission', 'sub_reversal', 'payout', 'payout_return', 'carryover'));
alter table ledger_entries drop constraint ledger_entries_conversion;
alter table ledger_entries add constraint ledger_entries_conversion check (
  type in ('adjustment', 'payout', 'payout_return', 'carryover') or conversion_id is not null);
alter table ledger_entries
  -- 1: the affiliate's own entry; 2 and 3: a sub-affiliate share of the entry `source_entry_id`
  add column tier smallint not null default 1 check (tier between 1 and 3),
  add column source_entry_id bigint references ledger_entries(id),
  add column payout_line_id bigint,
  add constraint ledger_entries_sub_link check ((tier = 1) = (source_entry_id is null));
alter table ledger_entries drop constraint ledger_entries_conversion_id_change_seq_type_key;
alter table ledger_entries add constraint ledger_entries_change_type_tier unique (conversion_id, change_seq, type, tier, affiliate_id);
create index ledger_entries_source on ledger_entries (source_entry_id) where source_entry_id is not null;
create index ledger_entries_affiliate_created on ledger_entries (affiliate_id, created_at);

-- Where an affiliate is paid. The account reference is write-only in the API and shown masked;
-- the export file of an approved run is the one place it appears whole.
create table affiliate_payment_details (
  affiliate_id bigint primary key references affiliates(id),
  method text not null check (method in ('paypal', 'bank_transfer', 'tipalti')),
  account_reference text not null check (length(account_reference) between 3 and 200),
  account_holder text,
  bic text,
  vat_number text,
  vat_rate numeric(5, 2) check (vat_rate between 0 and 100),
  updated_at timestamptz not null default now()
);

-- How often an affiliate is paid, whether payouts are held, who its parent is and its share of
-- sub-affiliates' commission, and what happens to a negative period balance.
create table affiliate_payout_settings (
  affiliate_id bigint primary key references affiliates(id),
  cycle text not null default 'monthly' check (cycle in ('weekly', 'biweekly', 'monthly', 'custom')),
  -- custom cycles: every cycle_days days from cycle_anchor; weekly and bi-weekly count from the anchor too
  cycle_days integer check (cycle_days between 1 and 366),
  cycle_anchor date not null default '2024-01-01',
  payout_hold boolean not null default false,
  payout_hold_reason text,
  parent_affiliate_id bigint references affiliates(id) check (parent_affiliate_id <> affiliate_id),
  -- the share this affiliate earns of its children's (tier 2) and grandchildren's (tier 3) commission
  sub_share_percent numeric(9, 6) not null default 0 check (sub_share_percent between 0 and 100),
  sub_tier3_percent numeric(9, 6) not null default 0 check (sub_tier3_percent between 0 and 100),
  negative_carryover text not null default 'carry' check (negative_carryover in ('carry', 'reset')),
  updated_at timestamptz not null default now(),
  check ((cycle = 'custom') = (cycle_days is not null))
);
create index affiliate_payout_settings_parent on affiliate_payout_settings (parent_affiliate_id);

-- Per-offer override of the affiliate's carryover mode (a RevShare offer resetting, say).
create table affiliate_offer_carryover (
  affiliate_id bigint not null references affiliates(id),
  offer_id bigint not null references offers(id),
  negative_carryover text not null check (negative_carryover in ('carry', 'reset')),
  primary key (affiliate_id, offer_id)
);

-- The smallest amount paid out per currency; below it the balance waits for the next cycle.
create table payout_minimums (
  currency char(3) primary key,
  minimum numeric(20, 6) not null check (minimum >= 0)
);

-- An approved payout run: the batch is immutable; only its lines' outcomes are recorded later.
create table payout_runs (
  id bigint generated always as identity primary key,
  -- entries payable before this instant (the end of the cycle) are paid
  period_end timestamptz not null,
  actor text not null,
  idempotency_key text unique,
  totals jsonb not null,
  created_at timestamptz not null default now()
);

-- `by default`: the line's id is drawn first, so its payout entry can name it (ledger_entries.payout_line_id).
create table payout_lines (
  id bigint generated by default as identity primary key,
  run_id bigint not null references payout_runs(id),
  affiliate_id bigint not null references affiliates(id),
  currency char(3) not null,
  amount numeric(20, 6) not null check (amount > 0),
  period_start timestamptz not null,
  period_end timestamptz not null,
  method text not null,
  -- snapshot at approval: the export pays where the details pointed then
  account_reference text not null,
  account_holder text,
  bic text,
  status text not null default 'pending' check (status in ('pending', 'paid', 'failed')),
  provider_reference text,
  failure_reason text,
  settled_at timestamptz,
  payout_entry_id bigint not null references ledger_entries(id),
  return_entry_id bigint references ledger_entries(id),
  unique (run_id, affiliate_id, currency)
);
create index payout_lines_affiliate on payout_lines (affiliate_id);
alter table ledger_entries add constraint ledger_entries_payout_line foreign key (payout_line_id)
  references payout_lines(id) deferrable initially deferred;

-- A line's money never changes and its outcome is recorded once (pending → paid | failed).
create function payout_lines_immutable() returns trigger
language plpgsql as $$
begin
  if tg_op = 'DELETE' then
    raise exception 'payout lines are immutable' using errcode = 'restrict_violation';
  end if;
  if (new.run_id, new.affiliate_id, new.currency, new.amount, new.account_reference, new.payout_entry_id)
       is distinct from (old.run_id, old.affiliate_id, old.currency, old.amount, old.account_reference, old.payout_entry_id)
     or old.status <> 'pending' then
    raise exception 'payout lines are immutable: only a pending line''s outcome is recorded, once'
      using errcode = 'restrict_violation';
  end if;
  return new;
end $$;
create trigger payout_lines_immutable before update or delete on payout_lines
  for each row execute function payout_lines_immutable();
create function payout_runs_immutable() returns trigger
language plpgsql as $$
begin
  raise exception 'payout runs are immutable' using errcode = 'restrict_violation';
end $$;
create trigger payout_runs_immutable before update or delete on payout_runs
  for each row execute function payout_runs_immutable();

-- One statement per affiliate per cycle; its content is derived from the (immutable) ledger.
create table statements (
  id bigint generated always as identity primary key,
  affiliate_id bigint not null references affiliates(id),
  period_start timestamptz not null,
  period_end timestamptz not null,
  run_id bigint references payout_runs(id),
  created_at timestamptz not null default now(),
  unique (affiliate_id, period_start, period_end)
);
