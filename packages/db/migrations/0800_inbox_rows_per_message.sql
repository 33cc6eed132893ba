-- The CLICKS consumers' proofs go back to one bus_inbox row per message (docs/internals.md,
-- "Outbox and inbox"). The batch rows of 0510 were looked up through a GIN index on their
-- message-id arrays: every lookup scanned GIN's pending list, and once that was merged the
-- function's generic plan still probed it per key — 20–50 ms per batch on a soak, more as the
-- week of kept rows grew, and the CLICKS consumers' stored-click lag grew with it. A primary-key
-- probe is constant, and the insert that records a batch's messages is also the check that
-- finds the ones already handled (insert … on conflict do nothing returning).
insert into bus_inbox (consumer, message_id, handled_at)
select consumer, unnest(message_ids), handled_at from bus_inbox_batches
on conflict do nothing;

-- The one definition of a consumer's proof that it handled a message (the reconciler's and the
-- pruning's), now a primary-key lookup.
create or replace function bus_handled(p_consumer text, p_message_id text) returns boolean
language sql stable as $$
  select exists (select 1 from bus_inbox i where i.consumer = p_consumer and i.message_id = p_message_id)
$$;

-- Dropped rather than left behind: an older replica still writing batch rows during a rolling
-- upgrade now fails its batch (redelivered to a new one) instead of recording a proof nobody reads.
drop table bus_inbox_batches;
