import { AD_CLICK_PARAMS, CONVERSION_PLATFORMS } from "@roundtrip/contracts";
import { t } from "elysia";
import { Id, Strict } from "../common.ts";

export const Platform = t.Union(
  CONVERSION_PLATFORMS.map((p) => t.Literal(p)),
  {
    description:
      "meta (Conversions API), google (Google Ads through the Data Manager API), tiktok (Events API)",
  },
);

const EventMapping = Strict(
  {
    name: t.String({
      minLength: 1,
      maxLength: 100,
      description:
        "the platform's event name (Meta Purchase, TikTok CompletePayment); Google: the conversion action ID",
    }),
    value: t.Optional(
      t.Union([t.Literal("amount"), t.Literal("payout"), t.Literal("none")], {
        description:
          "sent as the event's value with its currency: the conversion's amount (default), its payout, or none",
      }),
    ),
  },
  { description: "how one of our events becomes a platform event" },
);
const Events = t.Record(t.String({ pattern: "^[a-z0-9_]{1,40}$" }), EventMapping, {
  minProperties: 1,
  maxProperties: 50,
  description:
    'our event code → platform event, e.g. {"ftd": {"name": "Purchase"}}; unmapped events are not forwarded',
});
const HttpUrl = (description: string) =>
  t.String({ pattern: "^https?://[^\\s?#]+$", maxLength: 2048, description });
const AccessToken = t.String({
  minLength: 8,
  maxLength: 4096,
  pattern: "^\\S+$",
  description: "write-only: never returned (token_hint shows its last 4 characters)",
});
const AppSecret = t.String({
  minLength: 8,
  maxLength: 200,
  pattern: "^\\S+$",
  description: "Meta only, write-only: each request then carries appsecret_proof",
});
const OAuthSecret = (description: string) =>
  t.String({
    minLength: 8,
    maxLength: 4096,
    pattern: "^\\S+$",
    description: `Google only, write-only: ${description}`,
  });
const OAuthClientId = t.String({
  minLength: 1,
  maxLength: 500,
  pattern: "^\\S+$",
  description: "Google only: the OAuth client ID the refresh token was issued to",
});
const TokenUrl = HttpUrl(
  "Google only: the OAuth token endpoint; default https://oauth2.googleapis.com/token",
);
const SendOn = t.Union([t.Literal("booked"), t.Literal("approved")], {
  description: "booked (default): as soon as the conversion is pending or approved; approved: once approved",
});
const ClickIdSub = t.String({
  pattern: `^(sub([1-9]|10)|${AD_CLICK_PARAMS.join("|")})$`,
  description:
    "where the click keeps the platform's click ID: a sub (sub1…sub10) or the parameter itself; default the platform's (fbclid, gclid, ttclid)",
});
const TestEventCode = t.String({
  minLength: 1,
  maxLength: 100,
  description: "Meta and TikTok: the test event code; events then reach the platform's test tool only",
});

export const ConversionDestinationCreate = Strict({
  brand_id: Id,
  offer_id: t.Optional(Id),
  platform: Platform,
  name: t.String({ minLength: 1, maxLength: 200 }),
  platform_account: t.String({
    pattern: "^[A-Za-z0-9_-]{1,64}$",
    description: "Meta dataset (pixel) ID, TikTok pixel code, Google Ads customer ID (10 digits)",
  }),
  login_account: t.Optional(
    t.String({
      pattern: "^[0-9]{10}$",
      description: "Google only: the manager account the token signs in as",
    }),
  ),
  access_token: t.Optional(AccessToken),
  app_secret: t.Optional(AppSecret),
  oauth_client: t.Optional(OAuthClientId),
  oauth_client_secret: t.Optional(OAuthSecret("the OAuth client secret")),
  oauth_refresh_token: t.Optional(
    OAuthSecret("a refresh token (scope datamanager): access tokens are then obtained as needed"),
  ),
  oauth_token_url: t.Optional(TokenUrl),
  events: Events,
  send_on: t.Optional(SendOn),
  click_id_sub: t.Optional(ClickIdSub),
  event_source_url: t.Optional(HttpUrl("the page the event happened on; default the offer's landing page")),
  test_event_code: t.Optional(TestEventCode),
  base_url: t.Optional(HttpUrl("the platform's base URL (a gateway, a test server); default its public API")),
});
export type ConversionDestinationCreate = typeof ConversionDestinationCreate.static;

export const ConversionDestinationPatch = Strict({
  name: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  platform_account: t.Optional(t.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" })),
  login_account: t.Optional(t.Union([t.String({ pattern: "^[0-9]{10}$" }), t.Null()])),
  access_token: t.Optional(AccessToken),
  app_secret: t.Optional(t.Union([AppSecret, t.Null()])),
  oauth_client: t.Optional(t.Union([OAuthClientId, t.Null()])),
  oauth_client_secret: t.Optional(t.Union([OAuthSecret("the OAuth client secret"), t.Null()])),
  oauth_refresh_token: t.Optional(t.Union([OAuthSecret("a refresh token"), t.Null()])),
  oauth_token_url: t.Optional(t.Union([TokenUrl, t.Null()])),
  events: t.Optional(Events),
  send_on: t.Optional(SendOn),
  click_id_sub: t.Optional(t.Union([ClickIdSub, t.Null()])),
  event_source_url: t.Optional(t.Union([HttpUrl("the page the event happened on"), t.Null()])),
  test_event_code: t.Optional(t.Union([TestEventCode, t.Null()])),
  base_url: t.Optional(t.Union([HttpUrl("the platform's base URL"), t.Null()])),
  status: t.Optional(
    t.Union([t.Literal("active"), t.Literal("disabled")], {
      description:
        "active re-enables a destination the sender disabled (410, failing); its dead deliveries can then be replayed",
    }),
  ),
});
export type ConversionDestinationPatch = typeof ConversionDestinationPatch.static;

/** What a send test answers: the request as sent (no token) and the platform's answer. */
export const DestinationTestResult = t.Object({
  outcome: t.Union([
    t.Literal("delivered"),
    t.Literal("failed"),
    t.Literal("refused"),
    t.Literal("network_error"),
  ]),
  error: t.Union([t.String(), t.Null()]),
  request: t.Object({ method: t.Literal("POST"), url: t.String(), body: t.String() }),
  response: t.Union([
    t.Object({ status: t.Integer(), body: t.String({ description: "the first 2000 bytes" }) }),
    t.Null(),
  ]),
  latency_ms: t.Integer(),
});
