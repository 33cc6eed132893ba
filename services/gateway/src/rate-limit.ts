import { type Sql, SharedRateLimiter } from "@roundtrip/db";
import type { Admission, AdvertiserEntry } from "@roundtrip/intake";

/**
 * Postbacks per second per advertiser, for the whole cluster: every gateway replica spends one
 * shared budget per advertiser and second (SharedRateLimiter: leases from PostgreSQL, so most
 * postbacks are admitted from memory). The advertiser's own limit wins over the default.
 */
export class AdvertiserRateLimits {
  private readonly limiter: SharedRateLimiter;

  constructor(
    sql: Sql,
    private readonly defaultPerSecond: number,
  ) {
    this.limiter = new SharedRateLimiter(sql, { namespace: "postbacks" });
  }

  async admit(advertiser: AdvertiserEntry): Promise<Admission> {
    const taken = await this.limiter.take(
      advertiser.id,
      advertiser.rateLimitPerSecond ?? this.defaultPerSecond,
    );
    return taken.ok
      ? { ok: true }
      : { ok: false, retryAfterS: Math.max(1, Math.ceil(taken.retryAfterMs / 1000)) };
  }
}
