/**
 * The gateway's OpenAPI document, for advertisers' developers: postbacks (GET query or POST JSON
 * or form, on /postback or /postback/{brand}), pixels, every parameter with its default aliases,
 * and every refusal — built from the intake's own schema and alias table, so it cannot drift.
 */
import {
  CANONICAL_PARAMS,
  DEFAULT_ALIASES,
  PostbackParams,
  SIGNATURE_HEADER,
  SIGNATURE_TOLERANCE_S,
} from "@roundtrip/intake";

/** Every refusal: HTTP status, `error.code`, meaning. */
export const REFUSALS: readonly (readonly [number, string, string])[] = [
  [400, "invalid_parameters", "a parameter is missing or malformed; `error.errors` names each field"],
  [400, "missing_click_id", "no click ID (and, for a pixel, no click cookie)"],
  [
    400,
    "unreplaced_macro",
    "a value is a literal macro such as {click_id}: the advertiser's system did not substitute it",
  ],
  [400, "missing_reference", "a refund or chargeback without the txid (or ref_txid) it reverses"],
  [400, "invalid_body", "the body is not valid UTF-8, JSON or form data"],
  [401, "missing_token", "the token is required and absent"],
  [401, "bad_token", "the token is wrong"],
  [401, "signature_missing", `the ${SIGNATURE_HEADER} header is required and absent`],
  [401, "signature_malformed", `the ${SIGNATURE_HEADER} header is not t=<unix seconds>,v1=<hex>`],
  [401, "signature_expired", `the signature's time is more than ${SIGNATURE_TOLERANCE_S} s away`],
  [401, "signature_invalid", "the HMAC does not match"],
  [401, "signature_replayed", "this signature was already used (sign every request afresh)"],
  [403, "advertiser_paused", "the advertiser is paused"],
  [403, "ip_not_allowed", "the request's address is not on the advertiser's IP allowlist"],
  [403, "pixel_disabled", "pixels are not enabled for this advertiser"],
  [404, "unknown_brand", "no brand of that slug (/postback/{brand})"],
  [413, "body_too_large", "the body is larger than the gateway accepts"],
  [415, "unsupported_media_type", "POST bodies are application/json or application/x-www-form-urlencoded"],
  [422, "click_id_malformed", "not a click ID issued by this tracker (mangled or truncated)"],
  [422, "click_id_bad_signature", "a forged click ID"],
  [422, "click_id_unknown_key", "signed with a key this tracker does not have"],
  [422, "click_id_unknown_version", "an unknown click ID version"],
  [422, "click_id_unknown_link", "the click's tracking link does not exist"],
  [422, "click_id_unknown_advertiser", "the click's offer has no advertiser here"],
  [422, "advertiser_mismatch", "the click belongs to another advertiser than the token's or signature's"],
  [422, "brand_mismatch", "the click belongs to another brand than the endpoint's"],
  [422, "unknown_event", "the event is not configured on the click's offer"],
  [429, "rate_limited", "too many postbacks for this advertiser; retry after Retry-After seconds"],
];

const aliasesOf = (name: string) =>
  Object.entries(DEFAULT_ALIASES)
    .filter(([, canonical]) => canonical === name)
    .map(([alias]) => alias);

const Rejected = {
  type: "object",
  required: ["status", "error"],
  properties: {
    status: { const: "rejected" },
    error: { $ref: "#/components/schemas/Error/properties/error" },
  },
};

export function gatewayDocument() {
  const schema = JSON.parse(JSON.stringify(PostbackParams)) as {
    properties: Record<string, Record<string, unknown>>;
    required?: string[];
  };
  const parameters = CANONICAL_PARAMS.map((name) => {
    const aliases = aliasesOf(name);
    const own = schema.properties[name] ?? { type: "string" };
    return {
      name,
      in: "query",
      required: name === "event",
      description: `${(own.description as string | undefined) ?? name}${aliases.length ? `. Default aliases: ${aliases.join(", ")}` : ""}.`,
      schema: own,
    };
  });
  const refusals = Object.fromEntries(
    [...new Set(REFUSALS.map(([status]) => status))].map((status) => [
      String(status),
      {
        description: REFUSALS.filter(([s]) => s === status)
          .map(([, code, meaning]) => `\`${code}\`: ${meaning}`)
          .join("; "),
        content: { "application/json": { schema: Rejected } },
      },
    ]),
  );
  const accepted = {
    description:
      "accepted (committed before this answer); `duplicate: true` means it was already had — stop retrying",
    content: {
      "application/json": {
        schema: {
          type: "object",
          required: ["status", "receipt_id", "duplicate"],
          properties: {
            status: { const: "accepted" },
            receipt_id: { type: "string" },
            duplicate: { type: "boolean" },
          },
        },
        example: { status: "accepted", receipt_id: "12345", duplicate: false },
      },
    },
  };
  const aliasRule =
    "Parameter names: the canonical names below, the default aliases listed with each, or the advertiser's own aliases (configured in admin; they take precedence). A name given twice, or two names for one parameter, is a 400.";
  const getPostback = {
    summary: "Advertiser postback (query string)",
    description: aliasRule,
    parameters,
    responses: { "200": accepted, ...refusals },
  };
  const body = { type: "object", properties: schema.properties, additionalProperties: { type: "string" } };
  const postPostback = {
    summary: "Advertiser postback (JSON or form body)",
    description: `${aliasRule} The same parameters in the body; query parameters are merged in. Sign with ${SIGNATURE_HEADER} when the advertiser requires it.`,
    requestBody: {
      required: true,
      content: {
        "application/json": { schema: body },
        "application/x-www-form-urlencoded": { schema: body },
      },
    },
    responses: { "200": accepted, ...refusals },
  };
  const brand = {
    name: "brand",
    in: "path",
    required: true,
    schema: { type: "string" },
    description: "brand slug",
  };
  const pixel = {
    summary: "Conversion pixel",
    description:
      "A 1×1 GIF for browsers; the click ID from the parameters or the tracking domain's click cookie. The outcome is in the X-Roundtrip-Outcome and X-Roundtrip-Reason headers (the refusal codes of /postback).",
    parameters: parameters.filter((p) => p.name !== "token"),
    responses: {
      "200": {
        description: "accepted (or a duplicate)",
        content: { "image/gif": { schema: { type: "string", format: "binary" } } },
      },
      default: {
        description: "refused: the same GIF, the reason in X-Roundtrip-Reason",
        content: { "image/gif": { schema: { type: "string", format: "binary" } } },
      },
    },
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "Roundtrip postback gateway",
      version: "1.0.0",
      description:
        'Where advertisers send conversions: S2S postbacks and pixels. Every request is logged (secrets masked); nothing is answered 200 before it is committed. Errors: `{"status": "rejected", "error": {"code", "message", "field"?, "errors"?}}` — the `error` object is the shape of every Roundtrip service.',
    },
    servers: [{ url: "/" }],
    paths: {
      "/postback": {
        get: { operationId: "getPostback", ...getPostback },
        post: { operationId: "postPostback", ...postPostback },
      },
      "/postback/{brand}": {
        get: { operationId: "getPostbackByBrand", ...getPostback, parameters: [brand, ...parameters] },
        post: { operationId: "postPostbackByBrand", ...postPostback, parameters: [brand] },
      },
      "/pixel": { get: { operationId: "getPixel", ...pixel } },
      "/pixel.gif": { get: { operationId: "getPixelGif", ...pixel } },
    },
    components: {
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              required: ["code", "message"],
              properties: {
                code: { type: "string", enum: [...new Set(REFUSALS.map(([, code]) => code))] },
                message: { type: "string" },
                field: { type: "string" },
                errors: {
                  type: "array",
                  items: {
                    type: "object",
                    properties: { field: { type: "string" }, message: { type: "string" } },
                  },
                },
              },
            },
          },
        },
      },
    },
  };
}
