import fc from "fast-check";

/**
 * Generators of hostile requests for the intake edge: every code unit (control characters, lone
 * surrogates), the strings integrations get wrong, huge and odd numbers, wrong types and content
 * types, repeated parameters, bodies over the limit. Each request is data for `fetch`.
 */

/** Any UTF-16 code unit, so lone surrogates and every control character appear. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

const NASTY = [
  "\u0000",
  "a\u0000b",
  "\ud800",
  "x\udfff",
  "\ud83d",
  "\u0007\u001b[31m",
  "\r\n",
  "\u202e",
  "\ufeff",
  "😀",
  "'; drop table postback_log; --",
  "{click_id}",
  "[CLICK_ID]",
  "1e400",
  "-0",
  "99999999999999999999999.999999999",
  "NaN",
  "Infinity",
  "0x10",
  "   ",
  "__proto__",
  "constructor",
];

export const hostileText = fc.oneof(
  fc.string({ unit: codeUnit, maxLength: 24 }),
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.constantFrom(...NASTY),
);

/** Percent-encoding that can also say what `encodeURIComponent` refuses to (a lone surrogate). */
function encode(text: string): string {
  let out = "";
  for (const ch of text) {
    const unit = ch.charCodeAt(0);
    if (ch.length === 1 && unit >= 0xd800 && unit <= 0xdfff) {
      // The three UTF-8-style bytes of a surrogate: what a careless encoder sends.
      const bytes = [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)];
      out += bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join("");
    } else out += encodeURIComponent(ch);
  }
  return out;
}

const rawFragment = fc.constantFrom("", "", "", "%00", "%ED%A0%80", "%FF", "%C0%80", "%", "%zz", "+");

const PARAM_NAMES = [
  "click_id",
  "cid",
  "clickid",
  "txid",
  "transaction_id",
  "ref_txid",
  "event",
  "goal",
  "amount",
  "sum",
  "payout",
  "currency",
  "cur",
  "status",
  "timestamp",
  "brand",
  "token",
  "note",
];

export type Known = { clickId: string; token: string; brand: string };

/** A value: hostile, or one that gets the request further in (a real click ID, a real event). */
function value(known: Known) {
  return fc.oneof(
    { weight: 3, arbitrary: hostileText },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        known.clickId,
        known.token,
        "ftd",
        "registration",
        "refund",
        "EUR",
        "ZZZ",
        "XXX",
        "eur",
        "100.50",
        "approved",
        "1700000000",
        known.brand,
      ),
    },
  );
}

function pairs(known: Known) {
  return fc.array(
    fc.tuple(
      fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...PARAM_NAMES) },
        { weight: 1, arbitrary: hostileText },
      ),
      value(known),
    ),
    { maxLength: 8 },
  );
}

const queryOf = (ps: [string, string][], fragment: string) =>
  ps.map(([k, v]) => `${encode(k)}=${encode(v)}`).join("&") + fragment;

const RAW_JSON = [
  '{"amount": 1e400, "event": "ftd"}',
  '{"amount": 123456789012345678901234567890, "event": "ftd"}',
  '{"event": "ftd", "event": "deposit"}',
  '{"event": ["ftd"]}',
  '{"event": {"$gt": ""}}',
  '{"event": true, "amount": null}',
  '{"txid": "\\u0000", "event": "ftd"}',
  '{"\\ud800": "x", "event": "ftd"}',
  "[1,2]",
  '"text"',
  "null",
  "{nope",
  "",
];

const CONTENT_TYPES = [
  "application/json",
  "application/x-www-form-urlencoded",
  "text/plain",
  "application/xml",
  "multipart/form-data",
  "application/json; charset=utf-16",
  "application/x-www-form-urlencoded; charset=latin1",
  "",
];

export type HostileRequest = { path: string; init: RequestInit; label: string };

/** Requests for the gateway's /postback (and per-brand) and /pixel routes. */
export function gatewayRequests(known: Known): fc.Arbitrary<HostileRequest> {
  const path = fc.oneof(
    { weight: 4, arbitrary: fc.constant("/postback") },
    { weight: 1, arbitrary: fc.constant(`/postback/${known.brand}`) },
    { weight: 1, arbitrary: hostileText.map((t) => `/postback/${encode(t) || "x"}`) },
  );
  const get = fc
    .tuple(path, pairs(known), rawFragment)
    .map(([p, ps, f]): HostileRequest => ({ path: `${p}?${queryOf(ps, f)}`, init: {}, label: "GET query" }));
  const json = fc.tuple(path, pairs(known)).map(
    ([p, ps]): HostileRequest => ({
      path: p,
      init: {
        method: "POST",
        headers: { "content-type": "application/json" },
        // JSON.stringify writes a lone surrogate as \ud800: JSON.parse on the server restores it.
        body: JSON.stringify(Object.fromEntries(ps)),
      },
      label: "POST JSON",
    }),
  );
  const rawJson = fc.tuple(path, fc.constantFrom(...RAW_JSON)).map(
    ([p, body]): HostileRequest => ({
      path: p,
      init: { method: "POST", headers: { "content-type": "application/json" }, body },
      label: "POST raw JSON",
    }),
  );
  const form = fc.tuple(path, pairs(known), rawFragment).map(
    ([p, ps, f]): HostileRequest => ({
      path: p,
      init: {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: queryOf(ps, f),
      },
      label: "POST form",
    }),
  );
  const wrongType = fc.tuple(path, fc.constantFrom(...CONTENT_TYPES), hostileText).map(
    ([p, type, body]): HostileRequest => ({
      path: p,
      init: { method: "POST", headers: type ? { "content-type": type } : {}, body },
      label: `POST ${type || "no content type"}`,
    }),
  );
  const huge = fc.integer({ min: 17_000, max: 300_000 }).map(
    (n): HostileRequest => ({
      path: "/postback",
      init: {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: `{"event":"ftd","note":"${"x".repeat(n)}"}`,
      },
      label: `POST ${n} bytes`,
    }),
  );
  const pixel = fc
    .tuple(fc.constantFrom("/pixel", "/pixel.gif"), pairs(known), rawFragment, fc.boolean())
    .map(
      ([p, ps, f, cookie]): HostileRequest => ({
        path: `${p}?${queryOf(ps, f)}`,
        init: cookie ? { headers: { cookie: `rt_cid=${encode(known.clickId)}` } } : {},
        label: "pixel",
      }),
    );
  return fc.oneof(
    { weight: 4, arbitrary: get },
    { weight: 3, arbitrary: json },
    { weight: 2, arbitrary: rawJson },
    { weight: 2, arbitrary: form },
    { weight: 2, arbitrary: wrongType },
    { weight: 1, arbitrary: huge },
    { weight: 2, arbitrary: pixel },
  );
}

/** Tracking-link hits: hostile sub IDs (repeated too), codes and referrers; a fixed browser UA. */
export function clickRequests(code: string, userAgent: string): fc.Arbitrary<HostileRequest> {
  const subs = fc.array(
    fc.tuple(
      fc.integer({ min: 1, max: 11 }),
      fc.oneof(hostileText, fc.string({ minLength: 250, maxLength: 300 })),
    ),
    { maxLength: 12 },
  );
  const target = fc.oneof(
    { weight: 5, arbitrary: fc.constant(code) },
    { weight: 1, arbitrary: hostileText.map((t) => encode(t) || "x") },
  );
  const referrer = fc
    .string({ unit: "binary-ascii", maxLength: 60 })
    .map((s) => s.replace(/[^\x20-\x7e]/g, ""));
  return fc.tuple(target, subs, rawFragment, referrer).map(
    ([c, ss, f, ref]): HostileRequest => ({
      path: `/c/${c}?${ss.map(([n, v]) => `sub${n}=${encode(v)}`).join("&")}${f}`,
      init: { redirect: "manual", headers: { "user-agent": userAgent, ...(ref ? { referer: ref } : {}) } },
      label: c === code ? "click" : "click on a junk code",
    }),
  );
}
