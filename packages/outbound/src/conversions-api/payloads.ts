import { createHash } from "node:crypto";
import { type ConversionPlatform, PLATFORM_RULES } from "@roundtrip/contracts";

/** The Graph API version the Meta requests name (Meta keeps each version for about two years). */
export const META_GRAPH_VERSION = "v24.0";

/** What a destination says about itself that the payload needs. */
export type DestinationConfig = {
  platform: ConversionPlatform;
  platform_account: string;
  login_account: string | null;
  test_event_code: string | null;
  base_url: string | null;
};

/** One conversion as the platforms see it: no e-mail, phone or name exists in Roundtrip. */
export type ForwardedEvent = {
  /** The dedup key: the advertiser's transaction ID, else `rt_<conversion id>`; stable across retries. */
  eventId: string;
  /** The platform's event name (Google: the conversion action ID). */
  eventName: string;
  eventTime: Date;
  clickTime: Date | null;
  /** Our click ID: sent only hashed, as the visitor's external ID. */
  clickId: string;
  /** The platform's own click ID (fbclid, gclid, ttclid) when the click carried it. */
  adClickId: string | null;
  /** Google only: the app-campaign click IDs an iOS click carries instead of a gclid. */
  gbraid?: string | null;
  wbraid?: string | null;
  ip: string | null;
  userAgent: string | null;
  /** Decimal string in the conversion's currency, or null: sent without a value. */
  value: string | null;
  currency: string;
  sourceUrl: string | null;
};

export type Planned = { url: string; body: string; sendBefore: Date } | { skip: string; sendBefore: Date };

/** SHA-256, lower-case hex, of a value normalised as the platforms ask (trimmed, lower case). */
export function sha256(value: string): string {
  return createHash("sha256").update(value.trim().toLowerCase()).digest("hex");
}

/** An amount as the JSON number the platforms take (they want a number; we never compute with it). */
const amount = (v: string | null) => (v === null ? undefined : Number(v));

const base = (d: DestinationConfig) => (d.base_url ?? PLATFORM_RULES[d.platform].baseUrl).replace(/\/+$/, "");

/**
 * The request a platform gets for one conversion, or why none is sent. Identifiers: the visitor's
 * IP address and user agent in clear, because every one of the three asks for them unhashed (they
 * match them against the ad click); the ad click ID as the platform issued it; our click ID only
 * as a SHA-256 external ID. Nothing else about the visitor exists here to send.
 */
export function buildRequest(
  d: DestinationConfig,
  e: ForwardedEvent,
  options: { validateOnly?: boolean } = {},
): Planned {
  const rules = PLATFORM_RULES[d.platform];
  const from = rules.ageFrom === "click" ? (e.clickTime ?? e.eventTime) : e.eventTime;
  const sendBefore = new Date(from.getTime() + rules.maxAgeMs);
  const days = Math.round(rules.maxAgeMs / 86_400_000);
  if (sendBefore.getTime() <= Date.now())
    return {
      skip: `too old for ${d.platform}: the ${rules.ageFrom === "click" ? "click" : "event"} is more than ${days} days old`,
      sendBefore,
    };
  switch (d.platform) {
    case "meta":
      return { ...meta(d, e), sendBefore };
    case "tiktok":
      return { ...tiktok(d, e), sendBefore };
    case "google":
      if (!e.adClickId && !e.gbraid && !e.wbraid)
        return { skip: "no gclid on the click: Google Ads has nothing to match it to", sendBefore };
      return { ...google(d, e, options.validateOnly ?? false), sendBefore };
  }
}

/** Meta Conversions API: POST /{version}/{dataset id}/events, `{data: [server event]}`. */
function meta(d: DestinationConfig, e: ForwardedEvent) {
  const event = {
    event_name: e.eventName,
    event_time: Math.floor(e.eventTime.getTime() / 1000),
    event_id: e.eventId,
    action_source: "website",
    ...(e.sourceUrl ? { event_source_url: e.sourceUrl } : {}),
    user_data: {
      ...(e.ip ? { client_ip_address: e.ip } : {}),
      ...(e.userAgent ? { client_user_agent: e.userAgent } : {}),
      // fb.<subdomain index>.<when the fbclid was first seen, ms>.<fbclid>: Meta's click cookie format
      ...(e.adClickId ? { fbc: `fb.1.${(e.clickTime ?? e.eventTime).getTime()}.${e.adClickId}` } : {}),
      external_id: [sha256(e.clickId)],
    },
    ...(e.value !== null ? { custom_data: { value: amount(e.value), currency: e.currency } } : {}),
  };
  return {
    url: `${base(d)}/${META_GRAPH_VERSION}/${encodeURIComponent(d.platform_account)}/events`,
    body: JSON.stringify({
      data: [event],
      ...(d.test_event_code ? { test_event_code: d.test_event_code } : {}),
    }),
  };
}

/** TikTok Events API 2.0: POST /open_api/v1.3/event/track/, one web event. */
function tiktok(d: DestinationConfig, e: ForwardedEvent) {
  const event = {
    event: e.eventName,
    event_time: Math.floor(e.eventTime.getTime() / 1000),
    event_id: e.eventId,
    user: {
      ...(e.adClickId ? { ttclid: e.adClickId } : {}),
      ...(e.ip ? { ip: e.ip } : {}),
      ...(e.userAgent ? { user_agent: e.userAgent } : {}),
      external_id: sha256(e.clickId),
    },
    ...(e.value !== null ? { properties: { value: amount(e.value), currency: e.currency } } : {}),
    ...(e.sourceUrl ? { page: { url: e.sourceUrl } } : {}),
  };
  return {
    url: `${base(d)}/open_api/v1.3/event/track/`,
    body: JSON.stringify({
      event_source: "web",
      event_source_id: d.platform_account,
      ...(d.test_event_code ? { test_event_code: d.test_event_code } : {}),
      data: [event],
    }),
  };
}

/** Google Data Manager API: POST /v1/events:ingest, an offline click conversion for one conversion action. */
function google(d: DestinationConfig, e: ForwardedEvent, validateOnly: boolean) {
  const device =
    e.ip || e.userAgent
      ? {
          landingPageDeviceInfo: {
            ...(e.userAgent ? { userAgent: e.userAgent } : {}),
            ...(e.ip ? { ipAddress: e.ip } : {}),
          },
        }
      : {};
  const event = {
    transactionId: e.eventId,
    eventTimestamp: e.eventTime.toISOString(),
    eventSource: "WEB",
    // one click identifier: the gclid, else the iOS gbraid or wbraid
    adIdentifiers: {
      ...(e.adClickId ? { gclid: e.adClickId } : e.gbraid ? { gbraid: e.gbraid } : { wbraid: e.wbraid }),
      ...device,
    },
    ...(e.value !== null ? { conversionValue: amount(e.value), currency: e.currency } : {}),
  };
  return {
    url: `${base(d)}/v1/events:ingest`,
    body: JSON.stringify({
      destinations: [
        {
          operatingAccount: { accountType: "GOOGLE_ADS", accountId: d.platform_account },
          ...(d.login_account
            ? { loginAccount: { accountType: "GOOGLE_ADS", accountId: d.login_account } }
            : {}),
          productDestinationId: e.eventName,
        },
      ],
      // hashed identifiers are hex (none are sent today: Roundtrip holds no e-mail or phone)
      encoding: "HEX",
      // a send test: Google checks the request and stores nothing
      ...(validateOnly ? { validateOnly: true } : {}),
      events: [event],
    }),
  };
}
