import { inWindow, type LocalTime, minuteOf } from "./clock.ts";
import { languageMatches } from "./language.ts";
import { type RouteConditions, WEEKDAYS } from "./model.ts";

/**
 * What routing may ask of a click. Country, language and local time are functions: the click
 * service computes each only when a rule asks (and at most once per click).
 */
export type VisitorFacts = {
  country(): string | null;
  deviceType: string | null;
  os: string | null;
  language(): string | null;
  local(): LocalTime;
};

export type Weighted<T> = { id: string; weight: number; target: T };
export type CompiledRule<T> = {
  id: string;
  matches: (v: VisitorFacts) => boolean;
  destinations: Weighted<T>[];
};
/** A link's routing ready for the hot path: rules in order, then the fallback. */
export type CompiledRouting<T> = { rules: CompiledRule<T>[]; fallback: CompiledRule<T> | null };
/** One place a click may go, in the order it is tried. */
export type Candidate<T> = { ruleId: string; destinationId: string; target: T; fallback: boolean };

/** Turns stored conditions into one predicate; absent conditions always hold. Cheap tests first: a rule that fails on the device never looks up the country. */
export function compileConditions(c: RouteConditions | undefined): (v: VisitorFacts) => boolean {
  const tests: ((v: VisitorFacts) => boolean)[] = [];
  if (!c) return () => true;
  if (c.device_types) {
    const set = new Set<string>(c.device_types);
    tests.push((v) => v.deviceType !== null && set.has(v.deviceType));
  }
  if (c.os) {
    const set = new Set(c.os.map((o) => o.toLowerCase()));
    tests.push((v) => v.os !== null && set.has(v.os.toLowerCase()));
  }
  if (c.languages) {
    const langs = c.languages;
    tests.push((v) => {
      const lang = v.language();
      return langs.some((l) => languageMatches(l, lang));
    });
  }
  if (c.hours) {
    const from = minuteOf(c.hours.from);
    const to = minuteOf(c.hours.to);
    tests.push((v) => inWindow(v.local().minute, from, to));
  }
  if (c.weekdays) {
    const days = new Set(c.weekdays.map((d) => WEEKDAYS.indexOf(d) + 1));
    tests.push((v) => days.has(v.local().weekday));
  }
  if (c.countries) {
    const set = new Set(c.countries);
    tests.push((v) => {
      const country = v.country();
      return country !== null && set.has(country);
    });
  }
  return (v) => {
    for (const test of tests) if (!test(v)) return false;
    return true;
  };
}

/**
 * Destinations in the order to try them: a weighted random order (Efraimidis–Spirakis: each
 * draws random^(1/weight), highest first), so the first is picked with probability weight/total
 * and, when it is capped or paused, the next is again weighted among those left.
 */
export function weightedOrder<D extends { weight: number }>(items: D[], random: () => number): D[] {
  if (items.length < 2) return items;
  return items
    .map((item) => ({ item, key: random() ** (1 / item.weight) }))
    .sort((a, b) => b.key - a.key)
    .map((k) => k.item);
}

/**
 * Where a click may go, best first: the destinations of the first rule that matches, then the
 * fallback's. The caller takes the first that is live and has room in its caps.
 */
export function* candidates<T>(
  routing: CompiledRouting<T>,
  visitor: VisitorFacts,
  random: () => number = Math.random,
): Generator<Candidate<T>> {
  const rule = routing.rules.find((r) => r.matches(visitor));
  if (rule) {
    for (const d of weightedOrder(rule.destinations, random))
      yield { ruleId: rule.id, destinationId: d.id, target: d.target, fallback: false };
  }
  if (routing.fallback) {
    for (const d of weightedOrder(routing.fallback.destinations, random))
      yield { ruleId: routing.fallback.id, destinationId: d.id, target: d.target, fallback: true };
  }
}
