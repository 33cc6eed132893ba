import { describe, expect, test } from "bun:test";
import { signPostback, tokenMatches, verifySignature } from "./auth.ts";
import { ipAllowed, normaliseCidr, parseAllowlist, truncateIp } from "./ip.ts";
import { canonicalise, maskSecrets, parseTimestamp, validate } from "./params.ts";

describe("canonical parameters", () => {
  test("default and advertiser aliases map to canonical names; the advertiser's win", () => {
    const { params, errors } = canonicalise(
      { cid: "abc", transaction_id: "T1", goal: "FTD", cur: "eur" },
      {},
    );
    expect(errors).toEqual([]);
    expect({ ...params }).toEqual({ click_id: "abc", txid: "T1", event: "ftd", currency: "EUR" });
    const own = canonicalise(
      { cid: "T9", aff_click: "abc", event: "ftd" },
      { cid: "txid", aff_click: "click_id" },
    );
    expect({ ...own.params }).toEqual({ txid: "T9", click_id: "abc", event: "ftd" });
  });

  test("a repeated, nested, over-long or over-numerous parameter is refused by name", () => {
    expect(canonicalise({ event: ["a", "b"] }, {}).errors).toEqual([
      { field: "event", message: "is given more than once" },
    ]);
    expect(canonicalise({ click_id: "x", cid: "y" }, {}).errors[0]?.field).toBe("click_id");
    expect(canonicalise({ amount: { $gt: 1 } }, {}).errors[0]).toEqual({
      field: "amount",
      message: "must be a single value, not an object",
    });
    expect(canonicalise({ txid: "x".repeat(5000) }, {}).errors[0]?.field).toBe("txid");
    const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`p${i}`, "1"]));
    expect(canonicalise(many, {}).errors[0]?.field).toBe("(params)");
  });

  test("__proto__ and constructor are plain names, not prototype pollution", () => {
    const raw = JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": "x", "event": "ftd"}');
    const { params, errors } = canonicalise(raw, {});
    expect(errors.map((e) => e.field)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(params.constructor as unknown).toBe("x");
  });

  test("validation names each bad field and recognises unreplaced macros", () => {
    const bad = validate({ click_id: "c", event: "FTD!", amount: "1,5", currency: "euro" });
    expect(bad.errors.map((e) => e.field).sort()).toEqual(["amount", "currency", "event"]);
    const macro = validate({ click_id: "{clickid}", event: "ftd", txid: "{transaction_id}" });
    expect(macro.macro).toBe(true);
    expect(macro.errors.map((e) => e.field)).toEqual(["click_id", "txid"]);
    expect(validate({ event: "ftd", txid: "été-ü" }).errors[0]?.field).toBe("txid");
    expect(validate({ event: "ftd", status: "done" }).errors[0]?.field).toBe("status");
    expect(validate({ click_id: "c" }).errors[0]?.field).toBe("event");
    expect(validate({ event: "ftd", amount: "-5" }).errors[0]?.field).toBe("amount");
    expect(validate({ event: "ftd", txid: "x' OR 1=1; --" }).errors[0]?.field).toBe("txid"); // spaces refused
    expect(validate({ event: "ftd", txid: "x'OR'1'='1;--", amount: "10.5" }).value?.txid).toBe(
      "x'OR'1'='1;--",
    );
  });

  test("timestamps: ISO (zone-less is UTC), Unix seconds and milliseconds; nonsense and the far future refused", () => {
    expect(parseTimestamp("2024-05-01T10:00:00")?.toISOString()).toBe("2024-05-01T10:00:00.000Z");
    expect(parseTimestamp("2024-05-01 10:00:00+02:00")?.toISOString()).toBe("2024-05-01T08:00:00.000Z");
    expect(parseTimestamp("1714557600")?.toISOString()).toBe("2024-05-01T10:00:00.000Z");
    expect(parseTimestamp("1714557600000")?.toISOString()).toBe("2024-05-01T10:00:00.000Z");
    expect(parseTimestamp("yesterday")).toBeNull();
    expect(parseTimestamp("2024-13-45T99:00:00Z")).toBeNull();
    const future = String(Math.floor(Date.now() / 1000) + 3 * 86_400);
    expect(validate({ event: "ftd", timestamp: future }).errors[0]).toEqual({
      field: "timestamp",
      message: "is more than a day in the future",
    });
  });

  test("secrets are masked in what is logged, including an advertiser's alias of the token", () => {
    expect(
      maskSecrets({ token: "s3cret", key: "k", secret_code: "x", event: "ftd" }, { secret_code: "token" }),
    ).toEqual({
      token: "***",
      key: "***",
      secret_code: "***",
      event: "ftd",
    });
  });
});

describe("IP allowlists", () => {
  test("CIDRs and single addresses, IPv4 and IPv6, normalised", () => {
    expect(normaliseCidr("203.0.113.7")).toBe("203.0.113.7/32");
    expect(normaliseCidr("10.1.2.3/8")).toBe("10.0.0.0/8");
    expect(normaliseCidr("2001:DB8::1/32")).toBe("2001:db8::/32");
    expect(() => normaliseCidr("10.0.0.0/33")).toThrow(RangeError);
    expect(() => normaliseCidr("not-an-ip")).toThrow(RangeError);
    expect(() => normaliseCidr("'; drop table advertisers; --")).toThrow(RangeError);
  });

  test("matching, including IPv4-mapped IPv6 from dual-stack sockets", () => {
    const list = parseAllowlist(["203.0.113.0/24", "2001:db8::/32"]);
    expect(ipAllowed("203.0.113.200", list)).toBe(true);
    expect(ipAllowed("::ffff:203.0.113.9", list)).toBe(true);
    expect(ipAllowed("203.0.114.1", list)).toBe(false);
    expect(ipAllowed("2001:db8:ffff::1", list)).toBe(true);
    expect(ipAllowed("2001:db9::1", list)).toBe(false);
    expect(ipAllowed(null, list)).toBe(false);
    expect(ipAllowed("garbage", list)).toBe(false);
  });

  test("truncation keeps /24 of IPv4 and /48 of IPv6", () => {
    expect(truncateIp("203.0.113.77", "last-octet")).toBe("203.0.113.0");
    expect(truncateIp("::ffff:203.0.113.77", "last-octet")).toBe("203.0.113.0");
    expect(truncateIp("2001:db8:abcd:12:34::1", "last-octet")).toBe("2001:db8:abcd::");
    expect(truncateIp("2001:db8::1", "last-octet")).toBe("2001:db8::");
    expect(truncateIp("203.0.113.77", "none")).toBe("203.0.113.77");
    expect(truncateIp("nonsense", "last-octet")).toBeNull();
  });
});

describe("signatures", () => {
  const secret = "s".repeat(40);
  const req = { method: "POST", target: "/postback", body: '{"event":"ftd"}' };

  test("a fresh signature over the exact request verifies; the replay key is the MAC", () => {
    const header = signPostback(secret, req);
    const check = verifySignature({ header, ...req }, [secret]);
    expect(check.ok).toBe(true);
    if (check.ok) expect(header.endsWith(check.signature)).toBe(true);
  });

  test("old or future timestamps, tampering, a wrong secret and garbage are refused with the reason", () => {
    const now = Date.now();
    const old = signPostback(secret, { ...req, timestamp: Math.floor(now / 1000) - 301 });
    expect(verifySignature({ header: old, ...req }, [secret], now)).toEqual({
      ok: false,
      reason: "signature_expired",
    });
    const future = signPostback(secret, { ...req, timestamp: Math.floor(now / 1000) + 400 });
    expect(verifySignature({ header: future, ...req }, [secret], now)).toEqual({
      ok: false,
      reason: "signature_expired",
    });
    const header = signPostback(secret, req);
    expect(verifySignature({ header, ...req, body: '{"event":"ftd","amount":"9999"}' }, [secret])).toEqual({
      ok: false,
      reason: "signature_invalid",
    });
    expect(verifySignature({ header, ...req, target: "/postback?x=1" }, [secret])).toEqual({
      ok: false,
      reason: "signature_invalid",
    });
    expect(verifySignature({ header, ...req, method: "GET" }, [secret])).toEqual({
      ok: false,
      reason: "signature_invalid",
    });
    expect(verifySignature({ header, ...req }, ["o".repeat(40)])).toEqual({
      ok: false,
      reason: "signature_invalid",
    });
    expect(verifySignature({ header: null, ...req }, [secret])).toEqual({
      ok: false,
      reason: "signature_missing",
    });
    for (const garbage of [
      "",
      "t=abc,v1=zz",
      "v1=00",
      `t=${Math.floor(now / 1000)}`,
      "🙂",
      "t=1,v1=".padEnd(5000, "a"),
    ]) {
      expect(verifySignature({ header: garbage, ...req }, [secret])).toMatchObject({ ok: false });
    }
  });

  test("rotation: any of the advertiser's current secrets verifies", () => {
    const header = signPostback(secret, req);
    expect(verifySignature({ header, ...req }, ["n".repeat(40), secret]).ok).toBe(true);
  });

  test("token hashes compare in constant time and only match the token", () => {
    const hash = new Bun.CryptoHasher("sha256").update("tok-123").digest("hex");
    expect(tokenMatches("tok-123", hash)).toBe(true);
    expect(tokenMatches("tok-124", hash)).toBe(false);
    expect(tokenMatches("tok-123", "abcd")).toBe(false);
  });
});
