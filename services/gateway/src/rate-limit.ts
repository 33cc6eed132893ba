import type { Admission, AdvertiserEntry } from "@roundtrip/intake";
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";

/**
 * Postbacks per second per advertiser, in this replica's memory (N replicas admit up to N times
 * the figure; set it per replica). A limiter is rebuilt when the advertiser's limit changes.
 */
export class AdvertiserRateLimits {
  private readonly limiters = new Map<string, { perSecond: number; limiter: RateLimiterMemory }>();

  constructor(private readonly defaultPerSecond: number) {}

  async admit(advertiser: AdvertiserEntry): Promise<Admission> {
    const perSecond = advertiser.rateLimitPerSecond ?? this.defaultPerSecond;
    let entry = this.limiters.get(advertiser.id);
    if (!entry || entry.perSecond !== perSecond) {
      entry = {
        perSecond,
        limiter: new RateLimiterMemory({ keyPrefix: `adv${advertiser.id}`, points: perSecond, duration: 1 }),
      };
      this.limiters.set(advertiser.id, entry);
    }
    try {
      await entry.limiter.consume(advertiser.id, 1);
      return { ok: true };
    } catch (err) {
      if (err instanceof RateLimiterRes)
        return { ok: false, retryAfterS: Math.max(1, Math.ceil(err.msBeforeNext / 1000)) };
      throw err;
    }
  }
}
