import { describe, expect, test } from "bun:test";
import { add, div, mul, percentOf, ratio, round, toCurrency } from "./decimal.ts";

describe("rounding: half away from zero, once, to the currency's minor unit", () => {
  test.each([
    ["0.125", "EUR", "0.13"],
    ["-0.125", "EUR", "-0.13"],
    ["0.124999", "EUR", "0.12"],
    ["-0.124999", "EUR", "-0.12"],
    ["0.005", "USD", "0.01"],
    ["0.004999", "USD", "0.00"],
    ["-0.004", "USD", "0.00"],
    ["2.5", "JPY", "3"],
    ["-2.5", "JPY", "-3"],
    ["1.0005", "KWD", "1.001"],
    ["10", "EUR", "10.00"],
    ["123456789012.345", "EUR", "123456789012.35"],
  ])("%s %s → %s", (amount, currency, expected) => {
    expect(toCurrency(ratio(amount), currency)).toBe(expected);
  });

  test("a percentage is computed exactly and rounded once, not step by step", () => {
    // 30% of 123.45 = 37.035 exactly → 37.04 (a float gives 37.034999…)
    expect(toCurrency(percentOf(ratio("123.45"), ratio("30")), "EUR")).toBe("37.04");
    // 1/3 of 100 at an FX rate of 1.5: 50 exactly, although 1/3 has no decimal form
    expect(toCurrency(mul(div(ratio(100), ratio(3)), ratio("1.5")), "EUR")).toBe("50.00");
  });

  test("exact sums do not drift", () => {
    let sum = ratio(0);
    for (let i = 0; i < 10; i++) sum = add(sum, ratio("0.1"));
    expect(round(sum, 6)).toBe("1.000000");
  });

  test("rejects what is not a decimal", () => {
    expect(() => ratio("1e3")).toThrow(RangeError);
    expect(() => ratio("12,50")).toThrow(RangeError);
    expect(() => ratio(0.1)).toThrow(RangeError);
  });
});
