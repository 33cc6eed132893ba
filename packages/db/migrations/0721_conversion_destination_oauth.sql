-- Google access tokens live an hour: a Google destination may instead hold OAuth 2.0 refresh
-- credentials, and the delivery service exchanges them for access tokens as it needs them
-- (docs/conversions-api.md). Secrets are write-only, like the access token.
alter table conversion_destinations
  alter column access_token drop not null,
  add column oauth_client text,
  add column oauth_client_secret text,
  add column oauth_refresh_token text,
  -- the token endpoint; null: Google's (https://oauth2.googleapis.com/token)
  add column oauth_token_url text,
  add constraint conversion_destinations_credentials check (
    access_token is not null
    or (platform = 'google' and oauth_client is not null and oauth_client_secret is not null
        and oauth_refresh_token is not null));
