-- Dead letters parked (docs/internals.md, "Delivery guarantees"): a consumer that dead-lettered a
-- message records it here, keyed like its inbox (consumer, message id). An owed outbox event whose
-- missing consumers all dead-lettered it stays owed (and visible) but is not re-published when the
-- stream has aged its copy out: it would only fail again and add a dead letter every 7 days.
-- Replaying the dead letter deletes the row.
create table bus_dead_letters (
  consumer text not null,
  message_id text not null,
  dead_lettered_at timestamptz not null default now(),
  primary key (consumer, message_id)
);
