/**
 * Conversions API forwarding (docs/conversions-api.md): the ad platforms a conversion can be
 * forwarded to, and what each expects of it. One place for the rules admin validates against and
 * the delivery service sends by.
 */
export const CONVERSION_PLATFORMS = ["meta", "google", "tiktok"] as const;
export type ConversionPlatform = (typeof CONVERSION_PLATFORMS)[number];

const DAY_MS = 86_400_000;

export type PlatformRules = {
  /** The platform's public API, when a destination sets no base URL. */
  baseUrl: string;
  /** The query parameter the ad click carries, which the click service stores with the click's subs. */
  clickParam: string;
  /**
   * How old an event may be when it is sent. Meta refuses a request whose event_time is more than
   * 7 days old; TikTok documents the same 7 days for web events; Google accepts an offline
   * conversion up to 90 days after its click (the gclid's lifetime and the longest click-through
   * window), so its age is counted from the click.
   */
  maxAgeMs: number;
  ageFrom: "event" | "click";
  /** Platform event names a destination may use when it names none (documentation, examples). */
  exampleEvent: string;
};

export const PLATFORM_RULES: Readonly<Record<ConversionPlatform, PlatformRules>> = {
  meta: {
    baseUrl: "https://graph.facebook.com",
    clickParam: "fbclid",
    maxAgeMs: 7 * DAY_MS,
    ageFrom: "event",
    exampleEvent: "Purchase",
  },
  google: {
    baseUrl: "https://datamanager.googleapis.com",
    clickParam: "gclid",
    maxAgeMs: 90 * DAY_MS,
    ageFrom: "click",
    exampleEvent: "123456789",
  },
  tiktok: {
    baseUrl: "https://business-api.tiktok.com",
    clickParam: "ttclid",
    maxAgeMs: 7 * DAY_MS,
    ageFrom: "event",
    exampleEvent: "CompletePayment",
  },
};

/** Ad-platform click IDs the click service keeps beside sub1…sub10 when a tracking link carries them. */
export const AD_CLICK_PARAMS = ["fbclid", "gclid", "gbraid", "wbraid", "ttclid"] as const;
