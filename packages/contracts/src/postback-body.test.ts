import { describe, expect, test } from "bun:test";
import { bodyTemplateError, renderBody } from "./postback-body.ts";

describe("POST postback bodies", () => {
  test("JSON templates escape values inside JSON strings", () => {
    const body = renderBody(
      '{"tx":"{txid}","s1":"{sub1}"}',
      { txid: 'a"b\n', sub1: null },
      "application/json",
    );
    expect(JSON.parse(body)).toEqual({ tx: 'a"b\n', s1: "" });
  });

  test("form templates URL-encode", () => {
    expect(
      renderBody(
        "tx={txid}&p={payout}",
        { txid: "a&b", payout: "1.50" },
        "application/x-www-form-urlencoded",
      ),
    ).toBe("tx=a%26b&p=1.50");
  });

  test("a template is checked when saved: unknown macros, JSON that breaks once filled", () => {
    expect(bodyTemplateError('{"x":"{click_id}"}', "application/json")).toBeNull();
    expect(bodyTemplateError('{"x":"{clickid}"}', "application/json")).toBe("unknown macro {clickid}");
    expect(bodyTemplateError('{"x":{payout}}', "application/json")).toMatch(
      /^not valid JSON once macros are filled/,
    );
    expect(bodyTemplateError("x={payout}&y={nope}", "application/x-www-form-urlencoded")).toBe(
      "unknown macro {nope}",
    );
  });
});
