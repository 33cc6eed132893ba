import { expect, test } from "bun:test";
import { ApiError, errorOf, errorOfResponse, isApiError } from "./errors.ts";

test("the shared shape: code, message, field and every field at fault", () => {
  const err = errorOf(400, {
    error: {
      code: "invalid_request",
      message: "name: is required",
      field: "name",
      errors: [{ field: "name", message: "is required" }],
    },
  });
  expect(err).toBeInstanceOf(ApiError);
  expect(err).toMatchObject({
    status: 400,
    code: "invalid_request",
    message: "name: is required",
    field: "name",
  });
  expect(err.errors).toEqual([{ field: "name", message: "is required" }]);
  expect(isApiError(err, "invalid_request")).toBe(true);
  expect(isApiError(err, "not_found")).toBe(false);
});

test("the gateway's refusal carries the same error object", () => {
  const body = {
    status: "rejected",
    error: { code: "bad_token", message: "the token is wrong", field: "token" },
  };
  expect(errorOf(401, body)).toMatchObject({ status: 401, code: "bad_token", field: "token" });
});

test("the sign-in routes' { error: code, message }", () => {
  expect(errorOf(401, { error: "totp_required", message: "enter the code" })).toMatchObject({
    code: "totp_required",
    message: "enter the code",
  });
  expect(errorOf(429, { error: "too_many_attempts" }).message).toBe("too many attempts");
});

test("an answer that is not the shape (a proxy's HTML page) is http_error with the status", async () => {
  const res = new Response("<html>Bad Gateway</html>", { status: 502, statusText: "Bad Gateway" });
  expect(await errorOfResponse(res)).toMatchObject({
    status: 502,
    code: "http_error",
    message: "502 Bad Gateway",
  });
  expect(errorOf(500, "")).toMatchObject({ code: "http_error", message: "500" });
});
