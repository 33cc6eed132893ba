/**
 * Unique vs. repeat clicks: the same link, IP and user agent within 24 hours is a repeat.
 * Kept per replica in a map bounded in bytes (insertion order = age), so memory stays flat; with N
 * replicas behind a balancer a repeat may be counted unique once per replica, which reports
 * accept as an upper bound (docs/internals.md, "Limits across replicas").
 *
 * The key is a 53-bit hash of link, IP and user agent, never the text: a user agent may be kilobytes
 * (50k entries of 8 kB user agents held ~620 MB as strings), and a number-keyed entry costs the same
 * whatever the visitor sent. A hash collision (about 1 in 10^5 at a million entries) counts a
 * unique visitor as a repeat, a reporting error far below the per-replica one above.
 */
const DAY_MS = 24 * 60 * 60 * 1000;

/** Heap per entry of a Map<number, number> (measured ~55 bytes in Bun 1.4; visitors.test.ts checks it). */
export const VISITOR_ENTRY_BYTES = 64;

const HASH_53_BITS = 0x1f_ffff_ffff_ffffn;

export function visitorKey(linkId: number, ip: string | null, userAgent: string | null): number {
  // Numbers up to 2^53 are stored in the map's slots, with no allocation per key.
  return Number(BigInt(Bun.hash(`${linkId}\u0000${ip ?? ""}\u0000${userAgent ?? ""}`)) & HASH_53_BITS);
}

export class VisitorMemory {
  private readonly seen = new Map<number, number>();
  readonly maxEntries: number;

  /** `maxBytes`: what the map may hold at most (CLICK_VISITOR_MEMORY_BYTES). */
  constructor(maxBytes = 32 * 1024 * 1024) {
    this.maxEntries = Math.max(1, Math.floor(maxBytes / VISITOR_ENTRY_BYTES));
  }

  get size(): number {
    return this.seen.size;
  }

  isUnique(linkId: number, ip: string | null, userAgent: string | null, now = Date.now()): boolean {
    const key = visitorKey(linkId, ip, userAgent);
    const last = this.seen.get(key);
    if (last !== undefined && now - last < DAY_MS) return false;
    this.seen.delete(key);
    this.seen.set(key, now);
    if (this.seen.size > this.maxEntries) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return true;
  }
}
