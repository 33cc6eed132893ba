import { describe, expect, test } from "bun:test";
import { createLogger } from "@roundtrip/telemetry";
import { ConfigCache } from "./config-cache.ts";

describe("ConfigCache.fresh", () => {
  test("callers waiting together share one load; a caller arriving during a load gets a later one", async () => {
    let loads = 0;
    let release: () => void = () => {};
    const cache = new ConfigCache(
      "test",
      async () => {
        const n = ++loads;
        await new Promise<void>((r) => {
          release = r;
        });
        return n;
      },
      createLogger("config-cache-test", "error"),
    );
    const together = [cache.fresh(), cache.fresh(), cache.fresh()];
    await Bun.sleep(80);
    expect(loads).toBe(1);
    // Arrives while load 1 runs: load 1 may predate what it is looking for.
    const later = cache.fresh();
    release();
    expect(await Promise.all(together)).toEqual([1, 1, 1]);
    await Bun.sleep(80);
    expect(loads).toBe(2);
    release();
    expect(await later).toBe(2);
    expect(cache.current).toBe(2);
  });
});
