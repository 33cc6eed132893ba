import type { ConversionPlatform } from "@roundtrip/contracts";
import { HttpError } from "@roundtrip/service";

type Settings = {
  platform: ConversionPlatform;
  platform_account: string;
  login_account?: string | null;
  app_secret?: string | null;
  access_token?: string | null;
  oauth_client?: string | null;
  oauth_client_secret?: string | null;
  oauth_refresh_token?: string | null;
  oauth_token_url?: string | null;
  test_event_code?: string | null;
  events: Record<string, { name: string }>;
};

/** What one platform accepts that the schema cannot say (it depends on the platform); a 400 names the field. */
export function checkPlatformSettings(s: Settings): void {
  const refuse = (field: string, message: string) => {
    throw new HttpError(400, "invalid_request", `${field}: ${message}`, field);
  };
  if (s.platform === "google") {
    if (!/^[0-9]{10}$/.test(s.platform_account))
      refuse("platform_account", "a Google Ads customer ID is 10 digits, no dashes");
    for (const [event, m] of Object.entries(s.events))
      if (!/^[0-9]{1,20}$/.test(m.name))
        refuse(`events.${event}.name`, "for Google, the conversion action ID (digits)");
    if (s.test_event_code)
      refuse("test_event_code", "Google has no test event code (it validates with validateOnly)");
  } else if (s.login_account) {
    refuse("login_account", "only Google destinations sign in through a manager account");
  }
  if (s.app_secret && s.platform !== "meta")
    refuse("app_secret", "only Meta signs requests with an app secret");
  const oauth = [s.oauth_client, s.oauth_client_secret, s.oauth_refresh_token];
  if (s.platform !== "google") {
    for (const field of [
      "oauth_client",
      "oauth_client_secret",
      "oauth_refresh_token",
      "oauth_token_url",
    ] as const)
      if (s[field]) refuse(field, "only Google destinations take OAuth refresh credentials");
  } else if (oauth.some(Boolean) && !oauth.every(Boolean)) {
    const missing = (["oauth_client", "oauth_client_secret", "oauth_refresh_token"] as const).find(
      (f) => !s[f],
    );
    refuse(
      missing ?? "oauth_client",
      "OAuth refresh needs the client ID, the client secret and the refresh token",
    );
  }
  if (!s.access_token && !oauth.every(Boolean))
    refuse(
      "access_token",
      s.platform === "google" ? "give an access token or OAuth refresh credentials" : "required",
    );
}

/** What operators see of a token: its last four characters. */
export function tokenHint(token: string): string {
  return `…${token.slice(-4)}`;
}
