-- Payout cycles in the program's time zone (issue 14): an affiliate's periods run from local
-- midnight to local midnight in this IANA zone (validated by the API), so "the November cycle"
-- means November where the operator works, across DST changes. UTC keeps the old behaviour.
alter table affiliate_payout_settings add column time_zone text not null default 'UTC';
