import { describe, expect, test } from "bun:test";
import { maskUrl } from "./mask.ts";

describe("masking secrets in URLs", () => {
  test("credential-looking parameters and passwords are masked, the rest kept", () => {
    expect(maskUrl("https://user:pw@aff.example/pb?cid=abc&token=t0k&api_key=k&sig=s&pay=25.00")).toBe(
      "https://user:***@aff.example/pb?cid=abc&token=***&api_key=***&sig=***&pay=25.00",
    );
  });

  test("a URL that does not parse is still masked", () => {
    expect(maskUrl("not a url?token=abc&x=1")).toBe("not a url?token=***&x=1");
  });
});
