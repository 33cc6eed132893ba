import { describe, expect, test } from "bun:test";
import { decode, encode, encodeJson } from "./codec.ts";

describe("the JSON codec", () => {
  test("a BigInt anywhere in a payload is written as a decimal string", () => {
    const big = 2n ** 70n + 1n;
    expect(JSON.parse(encodeJson({ id: big, nested: [{ amount: 5n }], at: new Date(0) }))).toEqual({
      id: big.toString(),
      nested: [{ amount: "5" }],
      at: "1970-01-01T00:00:00.000Z",
    });
  });

  test("payloads without BigInt encode as JSON.stringify does, and decode back", () => {
    const payload = { clicks: [{ click_id: "x", subs: { sub1: "a b" }, ip: null, at: new Date(0) }], n: 1.5 };
    expect(encodeJson(payload)).toBe(JSON.stringify(payload));
    expect(decode(encode(payload))).toEqual(JSON.parse(JSON.stringify(payload)));
  });

  test("what JSON cannot hold still fails", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => encodeJson(cyclic)).toThrow(TypeError);
  });
});
