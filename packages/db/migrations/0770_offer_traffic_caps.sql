-- Issue 13: conversion and payout caps send an offer's traffic to its fallback at once, like click
-- caps (0583). The click service reads the counters the conversions and the ledger already keep,
-- in PostgreSQL, on each click of an offer with such a cap: the state is shared by every click,
-- attribution and commission replica and moves in the same transaction as the conversion or the
-- ledger entry that fills it, so there is no window in which one replica still sends traffic to a
-- full offer (a cache or a bus message would open one).
--
-- Payout caps: what the offer pays its affiliates (the ledger's tier-1 entries: commissions,
-- adjustments, reversals) per day and month of the brand, by the conversion's event time, in the
-- offer's currency. Traffic caps only: a conversion from an earlier click still books in full.
alter table offers
  add column payout_cap_daily numeric(20, 6) check (payout_cap_daily > 0),
  add column payout_cap_monthly numeric(20, 6) check (payout_cap_monthly > 0);

-- Kept by commission for offers with a payout cap only (a counter row per offer and period would
-- queue every booking of a busy offer behind the one before). Setting a cap on an offer without
-- one drops its rows: the next booking starts the period again from the ledger.
create table offer_payout_usage (
  offer_id bigint not null references offers(id),
  period text not null check (period in ('day', 'month')),
  period_start date not null,
  payout numeric(20, 6) not null,
  primary key (offer_id, period, period_start)
);
