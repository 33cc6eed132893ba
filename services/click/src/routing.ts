import type { REASON } from "@roundtrip/contracts";
import { candidates, type VisitorFacts } from "@roundtrip/routing";
import type { ResolvedLink } from "./link-cache.ts";

/** The cap that turned a click away: recorded on the click as its reason (docs/fraud.md). */
export type CapReason = (typeof REASON)["clickCap" | "conversionCap" | "payoutCap"];

/** Where a click goes: the link it is recorded on, what routing chose, and whether a cap turned it away. */
export type Choice = {
  link: ResolvedLink;
  /** Rule and destination that served it; null when the link does not route. */
  route: { ruleId: string; destinationId: string } | null;
  /**
   * Every place it could go was full: the visitor goes to `link`'s cap fallback URL, and this is
   * the cap that was full there (null: not capped).
   */
  capped: CapReason | null;
};

/**
 * Routing composed with click caps (docs/routing.md): the destinations of the first matching
 * rule in weighted order, then the fallback's; a destination that is not live is skipped, and
 * one whose offer's cap is full (`full` answers which — it takes the click cap place when there is
 * room) gives way to the next. When every destination was full, the visitor goes to the cap fallback
 * URL of the first one that was, as an unrouted capped link does. A link without routing, or
 * whose destinations are all paused, is its own destination.
 */
export async function chooseDestination(
  link: ResolvedLink,
  visitor: VisitorFacts,
  full: (target: ResolvedLink) => Promise<CapReason | null>,
  random: () => number,
): Promise<Choice> {
  if (link.routing) {
    let firstFull: Choice | null = null;
    for (const c of candidates(link.routing, visitor, random)) {
      if (!c.target) continue;
      const route = { ruleId: c.ruleId, destinationId: c.destinationId };
      const capped = await full(c.target);
      if (!capped) return { link: c.target, route, capped: null };
      firstFull ??= { link: c.target, route, capped };
    }
    if (firstFull) return firstFull;
  }
  return { link, route: null, capped: await full(link) };
}
