/**
 * Unique vs. repeat clicks: the same link, IP and user agent within 24 hours is a repeat.
 * Kept per replica in a bounded map (insertion order = age), so memory stays flat; with N
 * replicas behind a balancer a repeat may be counted unique once per replica, which reports
 * accept as an upper bound.
 */
const DAY_MS = 24 * 60 * 60 * 1000;

export class VisitorMemory {
  private seen = new Map<string, number>();
  constructor(private readonly maxEntries = 500_000) {}

  isUnique(linkId: number, ip: string | null, userAgent: string | null, now = Date.now()): boolean {
    const key = `${linkId}|${ip ?? ""}|${userAgent ?? ""}`;
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
