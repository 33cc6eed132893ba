import { isbot } from "isbot";
import { LRUCache } from "lru-cache";
import { UAParser } from "ua-parser-js";

/** What the click records about the visitor's browser; null where the parser cannot tell. */
export type AgentTraits = {
  /** isbot's maintained list: crawlers, link unfurlers, HTTP libraries, headless browsers. */
  bot: boolean;
  /** mobile, tablet, smarttv, console, wearable, embedded, desktop (a known OS, no device class) */
  device_type: string | null;
  os: string | null;
  browser: string | null;
};

const NONE: AgentTraits = { bot: false, device_type: null, os: null, browser: null };

/**
 * Bot detection (isbot) and device/OS/browser (ua-parser-js 1.x, MIT — 2.x is AGPL) for one user
 * agent. Parsing costs tens of microseconds, and real traffic repeats a small set of user agents,
 * so results are remembered per user agent (bounded): the redirect pays for a parse once per
 * browser build, not once per click.
 */
export class AgentParser {
  private readonly cache: LRUCache<string, AgentTraits>;
  constructor(maxEntries = 10_000) {
    this.cache = new LRUCache({ max: maxEntries });
  }

  traits(userAgent: string | null): AgentTraits {
    if (!userAgent) return NONE;
    let t = this.cache.get(userAgent);
    if (!t) {
      t = parse(userAgent);
      this.cache.set(userAgent, t);
    }
    return t;
  }
}

function parse(userAgent: string): AgentTraits {
  const r = new UAParser(userAgent).getResult();
  const os = r.os.name ?? null;
  return {
    bot: isbot(userAgent),
    // ua-parser names a device class only for non-desktop devices.
    device_type: r.device.type ?? (os ? "desktop" : null),
    os,
    browser: r.browser.name ?? null,
  };
}

/**
 * Browsers fetch some links before anyone clicks (speculation rules, `<link rel=prefetch>`,
 * Firefox/Safari prefetch); those requests say so and are not clicks at all.
 */
export function isPrefetch(headers: Headers): boolean {
  const purpose =
    headers.get("sec-purpose") ?? headers.get("purpose") ?? headers.get("x-purpose") ?? headers.get("x-moz");
  return purpose !== null && /prefetch|prerender|preview/i.test(purpose);
}
