-- Each stream's relay and reconciler look only at their own stream's rows (every 2 s, per replica,
-- per stream): with the stream in the index they no longer walk every stream's owed rows through a
-- `subject like any(...)` filter. enqueue() sets it (topology.ts describeSubject); rows written by
-- an older release during a rollout are given theirs by the reconciler (`stream is null` below).

alter table bus_outbox add column stream text;

-- Only what the relay and the reconciler still read: unpublished or owed rows (settled ones are
-- pruned within a day and never looked at again). Same mapping as topology.ts's STREAMS.
update bus_outbox set stream = case
    when subject = 'clicks.recorded' then 'CLICKS'
    when subject like 'postbacks.received.%' then 'POSTBACKS'
    when subject like 'conversions.%' then 'CONVERSIONS'
    when subject = 'commissions.booked' then 'COMMISSIONS'
    when subject like 'config.changed.%' then 'CONFIG'
    when subject like 'deadletter.%' then 'DEADLETTER'
  end
where handled_at is null;

drop index bus_outbox_unpublished_idx;
create index bus_outbox_unpublished_idx on bus_outbox (stream, id) where published_at is null;
drop index bus_outbox_owed_idx;
create index bus_outbox_owed_idx on bus_outbox (stream, id) where handled_at is null;
drop index bus_outbox_check_at_idx;
create index bus_outbox_check_at_idx on bus_outbox (stream, check_at) where handled_at is null;
-- Rows an older release wrote without a stream, until the reconciler labels them (normally none).
create index bus_outbox_unlabelled_idx on bus_outbox (id) where stream is null and handled_at is null;
