import { describe, expect, test } from "bun:test";
import { ZoneClock } from "./clock.ts";
import { CountryLookup } from "./geo.ts";
import { LanguageParser, languageMatches } from "./language.ts";
import {
  type CompiledRouting,
  candidates,
  compileConditions,
  type VisitorFacts,
  weightedOrder,
} from "./match.ts";

/** A small seeded generator (mulberry32), so weighted draws are counted, not left to chance. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

type Over = {
  country?: string | null;
  language?: string | null;
  minute?: number;
  weekday?: number;
  deviceType?: string | null;
  os?: string | null;
};
const facts = (over: Over = {}): VisitorFacts => ({
  country: () => over.country ?? null,
  deviceType: over.deviceType ?? null,
  os: over.os ?? null,
  language: () => over.language ?? null,
  local: () => ({ minute: over.minute ?? 0, weekday: over.weekday ?? 1 }),
});

describe("GeoIP (the bundled database, offline)", () => {
  const geo = new CountryLookup();
  test("known addresses resolve to their country, IPv4 and IPv6", () => {
    expect(geo.country("8.8.8.8")).toBe("US");
    expect(geo.country("81.2.69.142")).toBe("GB");
    expect(geo.country("77.88.8.8")).toBe("RU");
    expect(geo.country("5.45.192.1")).toBe("FI");
    expect(geo.country("2a00:1450:4001:81a::200e")).toBe("IE");
    expect(geo.country("::ffff:81.2.69.142")).toBe("GB");
  });
  test("private, loopback, shared and malformed addresses have no country", () => {
    for (const ip of [
      "10.1.2.3",
      "192.168.1.1",
      "172.16.0.9",
      "127.0.0.1",
      "100.64.0.1",
      "169.254.1.1",
      "::1",
      "fe80::1",
      "fd00::1",
      "not-an-ip",
      "1.2.3",
      "",
    ])
      expect(geo.country(ip)).toBeNull();
    expect(geo.country(null)).toBeNull();
  });
});

describe("Accept-Language", () => {
  const parser = new LanguageParser();
  test("the preferred language by q-value, lower-cased; * and empty headers name none", () => {
    expect(parser.preferred("de-AT,de;q=0.9,en;q=0.8")).toBe("de-at");
    expect(parser.preferred("en;q=0.5, pt-BR;q=0.9, *;q=0.1")).toBe("pt-br");
    expect(parser.preferred("*")).toBeNull();
    expect(parser.preferred("")).toBeNull();
    expect(parser.preferred(null)).toBeNull();
  });
  test("a primary language matches its regions; a regional tag only itself", () => {
    expect(languageMatches("de", "de-at")).toBe(true);
    expect(languageMatches("de", "de")).toBe(true);
    expect(languageMatches("DE", "de-ch")).toBe(true);
    expect(languageMatches("de", "dsb")).toBe(false);
    expect(languageMatches("pt-BR", "pt-br")).toBe(true);
    expect(languageMatches("pt-BR", "pt-pt")).toBe(false);
    expect(languageMatches("pt-BR", "pt")).toBe(false);
    expect(languageMatches("en", null)).toBe(false);
  });
});

describe("time of day in the brand's zone", () => {
  const clock = new ZoneClock();
  const nineToFive = compileConditions({ hours: { from: "09:00", to: "17:00" } });
  const at = (tz: string, iso: string) => {
    const local = clock.at(tz, new Date(iso));
    return facts({ minute: local.minute, weekday: local.weekday });
  };
  test("from is inclusive, to exclusive, in local time (winter and summer offsets)", () => {
    // Berlin is UTC+1 in January, UTC+2 in July.
    expect(nineToFive(at("Europe/Berlin", "2026-01-15T07:59:59Z"))).toBe(false);
    expect(nineToFive(at("Europe/Berlin", "2026-01-15T08:00:00Z"))).toBe(true);
    expect(nineToFive(at("Europe/Berlin", "2026-01-15T15:59:59Z"))).toBe(true);
    expect(nineToFive(at("Europe/Berlin", "2026-01-15T16:00:00Z"))).toBe(false);
    expect(nineToFive(at("Europe/Berlin", "2026-07-15T07:00:00Z"))).toBe(true);
    expect(nineToFive(at("Europe/Berlin", "2026-07-15T15:00:00Z"))).toBe(false);
    expect(nineToFive(at("UTC", "2026-07-15T08:59:00Z"))).toBe(false);
  });
  test("a window that ends before it starts wraps past midnight", () => {
    const night = compileConditions({ hours: { from: "22:00", to: "06:00" } });
    expect(night(at("America/New_York", "2026-01-16T02:59:00Z"))).toBe(false); // 21:59 local
    expect(night(at("America/New_York", "2026-01-16T03:00:00Z"))).toBe(true); // 22:00
    expect(night(at("America/New_York", "2026-01-16T10:59:00Z"))).toBe(true); // 05:59
    expect(night(at("America/New_York", "2026-01-16T11:00:00Z"))).toBe(false); // 06:00
  });
  test("weekdays are the local day", () => {
    const weekend = compileConditions({ weekdays: ["sat", "sun"] });
    // Friday 23:30 UTC is Saturday 08:30 in Tokyo.
    expect(weekend(at("Asia/Tokyo", "2026-01-16T23:30:00Z"))).toBe(true);
    expect(weekend(at("UTC", "2026-01-16T23:30:00Z"))).toBe(false);
  });
});

describe("conditions", () => {
  test("every condition given must hold; none given matches all", () => {
    const rule = compileConditions({ countries: ["DE", "AT"], device_types: ["mobile"], os: ["ios"] });
    expect(rule(facts({ country: "DE", deviceType: "mobile", os: "iOS" }))).toBe(true);
    expect(rule(facts({ country: "DE", deviceType: "desktop", os: "iOS" }))).toBe(false);
    expect(rule(facts({ country: "FR", deviceType: "mobile", os: "iOS" }))).toBe(false);
    expect(rule(facts({ country: null, deviceType: "mobile", os: "iOS" }))).toBe(false);
    expect(rule(facts({ country: "AT", deviceType: "mobile", os: "Android" }))).toBe(false);
    expect(compileConditions(undefined)(facts())).toBe(true);
    expect(compileConditions({})(facts())).toBe(true);
    const lang = compileConditions({ languages: ["de", "pt-BR"] });
    expect(lang(facts({ language: "de-ch" }))).toBe(true);
    expect(lang(facts({ language: "pt-pt" }))).toBe(false);
    expect(lang(facts({ language: null }))).toBe(false);
  });
  test("only what a rule asks is computed", () => {
    let asked = 0;
    const v: VisitorFacts = {
      ...facts({ deviceType: "desktop" }),
      country: () => {
        asked++;
        return "DE";
      },
    };
    compileConditions({ device_types: ["mobile"], countries: ["DE"] })(v);
    compileConditions({ os: ["iOS"] })(v);
    expect(asked).toBe(0);
  });
});

describe("weights and fallback", () => {
  const routing: CompiledRouting<string> = {
    rules: [
      {
        id: "1",
        matches: compileConditions({ countries: ["DE"] }),
        destinations: [
          { id: "11", weight: 3, target: "A" },
          { id: "12", weight: 1, target: "B" },
        ],
      },
    ],
    fallback: { id: "2", matches: () => true, destinations: [{ id: "21", weight: 1, target: "F" }] },
  };
  test("the first destination is picked in proportion to its weight (counted over a seeded sequence)", () => {
    const random = seeded(42);
    const firsts = { A: 0, B: 0 } as Record<string, number>;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const first = candidates(routing, facts({ country: "DE" }), random).next().value;
      firsts[first?.target as string] = (firsts[first?.target as string] ?? 0) + 1;
    }
    // 3:1 → 75 % ± 1.5 % (over 20 000 seeded draws the share is 0.75 within ~0.3 %).
    expect((firsts.A as number) / n).toBeGreaterThan(0.735);
    expect((firsts.A as number) / n).toBeLessThan(0.765);
    expect((firsts.A as number) + (firsts.B as number)).toBe(n);
  });
  test("after the rule's destinations (each once) comes the fallback; no match goes straight to it", () => {
    const all = [...candidates(routing, facts({ country: "DE" }), seeded(1))];
    expect(all.map((c) => c.target).sort()).toEqual(["A", "B", "F"]);
    expect(all.at(-1)).toEqual({ ruleId: "2", destinationId: "21", target: "F", fallback: true });
    expect(all.slice(0, 2).every((c) => c.ruleId === "1" && !c.fallback)).toBe(true);
    expect([...candidates(routing, facts({ country: "FR" }))].map((c) => c.target)).toEqual(["F"]);
  });
  test("weightedOrder keeps every item once", () => {
    const items = [1, 2, 3, 4, 5].map((w) => ({ weight: w, name: `d${w}` }));
    const order = weightedOrder(items, seeded(7));
    expect(order.map((o) => o.name).sort()).toEqual(items.map((o) => o.name));
  });
});
