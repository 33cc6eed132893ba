import { describe, expect, test } from "bun:test";
import { heapStats } from "bun:jsc";
import { VISITOR_ENTRY_BYTES, VisitorMemory } from "./visitors.ts";

const HOUR_MS = 3_600_000;

function heapAfterGc(): number {
  Bun.gc(true);
  return heapStats().heapSize;
}

describe("VisitorMemory", () => {
  test("the same link, IP and user agent within 24 h is a repeat; after 24 h unique again", () => {
    const v = new VisitorMemory();
    const t0 = Date.UTC(2026, 0, 1);
    expect(v.isUnique(1, "203.0.113.5", "UA", t0)).toBe(true);
    expect(v.isUnique(1, "203.0.113.5", "UA", t0 + 23 * HOUR_MS)).toBe(false);
    expect(v.isUnique(2, "203.0.113.5", "UA", t0)).toBe(true);
    expect(v.isUnique(1, "203.0.113.6", "UA", t0)).toBe(true);
    expect(v.isUnique(1, "203.0.113.5", "UA2", t0)).toBe(true);
    expect(v.isUnique(1, null, null, t0)).toBe(true);
    expect(v.isUnique(1, null, null, t0)).toBe(false);
    expect(v.isUnique(1, "203.0.113.5", "UA", t0 + 24 * HOUR_MS)).toBe(true);
  });

  test("the bound is in bytes: the oldest visitor is forgotten first", () => {
    const v = new VisitorMemory(10 * VISITOR_ENTRY_BYTES);
    expect(v.maxEntries).toBe(10);
    for (let i = 0; i < 25; i++) v.isUnique(1, `198.51.100.${i}`, "UA", 1_000 + i);
    expect(v.size).toBe(10);
    expect(v.isUnique(1, "198.51.100.24", "UA", 2_000)).toBe(false);
    expect(v.isUnique(1, "198.51.100.0", "UA", 2_000)).toBe(true);
  });

  test("50k visitors with 8 kB user agents cost what 50k short ones do (no user agent kept)", () => {
    const n = 50_000;
    const v = new VisitorMemory(n * VISITOR_ENTRY_BYTES);
    const filler = "x".repeat(8 * 1024);
    const before = heapAfterGc();
    for (let i = 0; i < n; i++) v.isUnique(7, "192.0.2.1", `${i}${filler}`);
    const grown = heapAfterGc() - before;
    expect(v.size).toBe(n);
    // Held as strings this was ~8.2 kB an entry (~410 MB); a map table may double at a growth step.
    expect(grown / n).toBeLessThan(2 * VISITOR_ENTRY_BYTES);
    expect(v.isUnique(7, "192.0.2.1", `0${filler}`)).toBe(false);
  });
});
