import { describe, expect, test } from "bun:test";
import { FormatRegistry } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { ClicksRecorded } from "./events.ts";
import { escapeUnstorable, escapeUnstorableDeep, stripUnstorable, unstorable } from "./text.ts";

// Elysia registers it in the services; this test does not load Elysia.
if (!FormatRegistry.Has("date-time")) FormatRegistry.Set("date-time", (v) => !Number.isNaN(Date.parse(v)));

describe("text PostgreSQL cannot store", () => {
  test("NUL and lone surrogates are found; pairs and ordinary text are not", () => {
    expect(unstorable("a\u0000b")).toContain("NUL");
    expect(unstorable("\ud800")).toContain("surrogate");
    expect(unstorable("x\udc00")).toContain("surrogate");
    expect(unstorable("😀 ' OR 1=1 -- \t\n")).toBeNull();
  });

  test("escaped for a record, stripped for a value; keys too", () => {
    expect(escapeUnstorable("a\u0000b\ud800😀")).toBe("a\\u0000b\\ud800😀");
    expect(stripUnstorable("a\u0000b\ud800😀")).toBe("ab😀");
    expect(escapeUnstorableDeep({ "k\u0000": ["\udfff", 1, null], nested: { v: "\u0000" } })).toEqual({
      "k\\u0000": ["\\udfff", 1, null],
      nested: { v: "\\u0000" },
    });
  });

  test("a consumer decoding a CLICKS batch gets storable visitor text, whatever an older publisher sent", () => {
    const click = {
      click_id: "c1",
      clicked_at: new Date().toISOString(),
      link_id: "1",
      offer_id: "1",
      affiliate_id: "1",
      brand_id: "1",
      is_unique: true,
      user_agent: "UA\u0000",
      referrer: null,
      subs: { sub1: "a\u0000b", sub2: "\ud800" },
    };
    const [decoded] = Value.Parse(ClicksRecorded, { clicks: [click] }).clicks;
    expect(decoded).toMatchObject({ user_agent: "UA", referrer: null, subs: { sub1: "ab", sub2: "" } });
  });
});
