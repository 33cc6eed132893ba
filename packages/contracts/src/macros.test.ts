import { describe, expect, test } from "bun:test";
import { isUnreplacedMacro, macrosIn, POSTBACK_MACROS, renderUrl, unknownMacros } from "./macros.ts";
import { roundToCurrency, toMicros } from "./money.ts";

describe("macros", () => {
  test("values are URL-encoded and missing known values become empty", () => {
    const url = renderUrl("https://a.example/p?cid={click_id}&s={sub1}&x={sub2}&keep={other}", {
      click_id: "abc",
      sub1: "a b&c=d/é",
      sub2: null,
    });
    expect(url).toBe("https://a.example/p?cid=abc&s=a%20b%26c%3Dd%2F%C3%A9&x=&keep={other}");
  });

  test("unknown macros are found for template validation", () => {
    expect(macrosIn("{click_id}/{payout}{x}")).toEqual(["click_id", "payout", "x"]);
    expect(unknownMacros("?a={click_id}&b={clickid}&c={clickid}", POSTBACK_MACROS)).toEqual(["clickid"]);
  });

  test("literal macros from a misconfigured advertiser are recognised", () => {
    for (const v of [
      "{clickid}",
      "{transaction_id}",
      "[CLICK_ID]",
      "%7Bclickid%7D",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal macro is the input under test
      "${click_id}",
      "##clickid##",
    ]) {
      expect(isUnreplacedMacro(v)).toBe(true);
    }
    expect(isUnreplacedMacro("AbC123_-")).toBe(false);
  });
});

describe("money", () => {
  test("rounds half away from zero to the currency's minor unit", () => {
    expect(roundToCurrency("10.005", "EUR")).toBe("10.01");
    expect(roundToCurrency("10.004999", "EUR")).toBe("10.00");
    expect(roundToCurrency("-10.005", "EUR")).toBe("-10.01");
    expect(roundToCurrency("1234.5", "JPY")).toBe("1235");
    expect(roundToCurrency("1.2345", "KWD")).toBe("1.235");
  });
  test("parses decimals exactly", () => {
    expect(toMicros("0.1") + toMicros("0.2")).toBe(toMicros("0.3"));
    expect(() => toMicros("1e3")).toThrow();
  });
});
