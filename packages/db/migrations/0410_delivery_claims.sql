-- Delivery under kill -9 (issue 9): the sender claims only what it is about to send, and logs an
-- attempt as started before the request goes out.

-- The endpoint (scheme://host[:port], lower case, without user info) a delivery goes to, so a
-- claim can skip endpoints this replica has no free slot for. Mirrors endpointKey() in
-- services/delivery/src/endpoints.ts (a test holds the two together).
alter table deliveries
  add column endpoint text generated always as (
    lower(regexp_replace(url, '^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#@]*@)?([^/?#]*).*$', '\1\3'))
  ) stored;

-- An attempt is inserted as 'started' before its request goes out and completed afterwards; one
-- still 'started' when its delivery is claimed again belonged to a sender that died mid-send and
-- becomes 'interrupted'.
create index delivery_attempts_started on delivery_attempts (delivery_id) where outcome = 'started';
