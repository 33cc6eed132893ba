-- People sign in to the console as users (issue 12): a password hashed by Bun.password, an optional
-- TOTP second factor, a role as API keys have, sessions in cookies, invitations, and a counter of
-- failed sign-ins per email and address. API keys stay for machines.

create table users (
  id bigint generated always as identity primary key,
  -- stored lower case: one account per address whatever the case it is typed in
  email text not null check (email = lower(email)),
  name text not null default '',
  role text not null check (role in ('admin', 'manager', 'analyst', 'affiliate')),
  affiliate_id bigint references affiliates(id),
  password_hash text not null,
  -- base32; set by a TOTP setup, required at sign-in only once enabled
  totp_secret text,
  totp_enabled_at timestamptz,
  -- the last 30-second step a code was accepted for: a code is good once
  totp_last_step bigint,
  disabled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz,
  last_sign_in_at timestamptz,
  check ((role = 'affiliate') = (affiliate_id is not null)),
  check (totp_enabled_at is null or totp_secret is not null)
);
create unique index users_email on users (email);

-- A session is a random token in an HttpOnly cookie; only its hash is stored. The CSRF token is
-- derived from the session token, so it needs no column. Role and status are read from the user
-- at every request, so a change or a disabled account takes effect at once.
create table user_sessions (
  id bigint generated always as identity primary key,
  user_id bigint not null references users(id),
  token_hash text not null unique,
  created_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  -- sliding: each use moves it to least(now + idle, max_expires_at)
  expires_at timestamptz not null,
  idle_seconds integer not null check (idle_seconds > 0),
  max_expires_at timestamptz not null,
  revoked_at timestamptz,
  ip text,
  user_agent text
);
create index user_sessions_user on user_sessions (user_id) where revoked_at is null;

-- An admin invites an email with a role; the single-use token (only its hash is stored) lets the
-- invitee set a password, which creates the user.
create table user_invitations (
  id bigint generated always as identity primary key,
  email text not null check (email = lower(email)),
  name text not null default '',
  role text not null check (role in ('admin', 'manager', 'analyst', 'affiliate')),
  affiliate_id bigint references affiliates(id),
  token_hash text not null unique,
  invited_by text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  accepted_at timestamptz,
  revoked_at timestamptz,
  user_id bigint references users(id),
  check ((role = 'affiliate') = (affiliate_id is not null))
);
create index user_invitations_email on user_invitations (email);

-- Failed sign-ins per key (`email|address` and `address`) in a fixed window: shared by every admin
-- replica, so a guesser cannot spread attempts over them.
create table sign_in_failures (
  key text primary key,
  failures integer not null,
  window_started_at timestamptz not null,
  locked_until timestamptz
);
