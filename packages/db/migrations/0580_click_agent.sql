-- Issue 13: what the click knows about the visitor's browser (ua-parser-js), and the
-- traffic-quality reason codes it carries (bot, click floods, IP lists: docs/fraud.md).
alter table clicks
  add column device_type text,
  add column os text,
  add column browser text,
  add column reasons text[] not null default '{}';
