import type { Sql } from "@roundtrip/db";
import { LRUCache } from "lru-cache";
import type { Directory } from "./directory.ts";

export type DirectoryLookupOptions = {
  /** How long a name the database does not know either is answered from memory (ms). */
  missTtlMs?: number;
  /** Misses remembered at most (oldest dropped first), so junk cannot grow memory. */
  maxMisses?: number;
};

/**
 * What the gateway does when a postback names something its held directory lacks: a link (a
 * valid click ID of a link created a moment ago, or of a deleted one) or an event of an offer.
 * One indexed row is looked up; only when the database has it is the whole directory reloaded
 * (the held copy is behind). A name the database lacks too is remembered as a miss for a short
 * while, so an advertiser that keeps sending an event its offer lacks, or old click IDs of
 * deleted links, costs one query per name per `missTtlMs` and never a directory load.
 */
export class DirectoryLookup {
  private readonly misses: LRUCache<string, true>;

  constructor(
    private readonly sql: Sql,
    /** A directory loaded now (the gateway's ConfigCache.fresh: shared and rate-limited). */
    private readonly reload: () => Promise<Directory>,
    options: DirectoryLookupOptions = {},
  ) {
    this.misses = new LRUCache({ max: options.maxMisses ?? 10_000, ttl: options.missTtlMs ?? 30_000 });
  }

  /** A directory that knows link `linkId`, or undefined when the database does not know it either. */
  link(linkId: number): Promise<Directory | undefined> {
    return this.find(`link:${linkId}`, async () =>
      Number.isSafeInteger(linkId) && linkId > 0
        ? (await this.sql`select 1 from links where id = ${linkId}`).length > 0
        : false,
    );
  }

  /** A directory in which offer `offerId` defines `event`, or undefined when the database's offer lacks it too. */
  event(offerId: string, event: string): Promise<Directory | undefined> {
    return this.find(
      `event:${offerId}:${event}`,
      async () =>
        (await this.sql`select 1 from offer_events where offer_id = ${offerId} and code = ${event}`).length >
        0,
    );
  }

  private async find(key: string, exists: () => Promise<boolean>): Promise<Directory | undefined> {
    if (this.misses.has(key)) return undefined;
    if (!(await exists())) {
      this.misses.set(key, true);
      return undefined;
    }
    return this.reload();
  }
}
