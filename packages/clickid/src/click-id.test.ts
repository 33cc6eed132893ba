import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { ClickIdCodec, clickTimeOf, parseKeys } from "./click-id.ts";

const oldKey = `k1:${"a".repeat(40)}`;
const newKey = `k2:${"b".repeat(40)}`;

describe("click IDs", () => {
  const codec = ClickIdCodec.fromSpec(oldKey);

  test("are URL-safe, at most 40 characters, and carry link and time", () => {
    const at = new Date("2026-11-21T10:00:00Z");
    const id = codec.mint(123456789, at);
    expect(id.length).toBeLessThanOrEqual(40);
    expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(encodeURIComponent(id)).toBe(id);
    const result = codec.verify(id);
    expect(result).toEqual({ ok: true, claims: { version: 1, kid: "k1", clickedAt: at, linkId: 123456789 } });
  });

  test("are unique for many clicks on one link in one second", () => {
    const at = new Date();
    const ids = new Set(Array.from({ length: 10_000 }, () => codec.mint(1, at)));
    expect(ids.size).toBe(10_000);
  });

  test("the seal is HMAC-SHA256 of the 17-byte body under the key's secret (UTF-8), first 10 bytes: the layout every issued ID carries", () => {
    for (const secret of ["a".repeat(40), `é€${"ü".repeat(40)}`, "s".repeat(100)]) {
      const ids = ClickIdCodec.fromSpec(`k:${secret}`);
      for (let i = 0; i < 50; i++) {
        const buf = Buffer.from(ids.mint(i * 1_000_003), "base64url");
        const sealed = createHmac("sha256", secret).update(buf.subarray(0, 17)).digest().subarray(0, 10);
        expect(buf.subarray(17).equals(sealed)).toBe(true);
      }
    }
    // Every byte of the 5-byte link ID and the 4-byte second, read back as written.
    const at = new Date("2099-12-31T23:59:59Z");
    for (const linkId of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 - 1, 987_654_321_012]) {
      expect(codec.verify(codec.mint(linkId, at))).toEqual({
        ok: true,
        claims: { version: 1, kid: "k1", clickedAt: at, linkId },
      });
    }
  });

  test("a mangled or forged ID is rejected", () => {
    const id = codec.mint(42);
    const flipped = id.slice(0, 10) + (id[10] === "A" ? "B" : "A") + id.slice(11);
    expect(codec.verify(flipped)).toEqual({ ok: false, reason: "bad_signature" });
    expect(codec.verify(id.slice(0, -1))).toEqual({ ok: false, reason: "malformed" });
    expect(codec.verify(`${id.slice(0, -1)}!`)).toEqual({ ok: false, reason: "malformed" });
    expect(codec.verify("{clickid}")).toEqual({ ok: false, reason: "malformed" });
    const forger = ClickIdCodec.fromSpec(`k1:${"x".repeat(40)}`);
    expect(codec.verify(forger.mint(42))).toEqual({ ok: false, reason: "bad_signature" });
  });

  test("rotation: new IDs use the newest key, old IDs keep verifying", () => {
    const before = codec.mint(7);
    const rotated = ClickIdCodec.fromSpec(`${newKey},${oldKey}`);
    const after = rotated.mint(7);
    expect(rotated.verify(before)).toMatchObject({ ok: true, claims: { kid: "k1" } });
    expect(rotated.verify(after)).toMatchObject({ ok: true, claims: { kid: "k2" } });
    // A service that has not received the new key yet cannot verify new IDs.
    expect(codec.verify(after)).toEqual({ ok: false, reason: "unknown_key" });
  });

  test("key specs are validated", () => {
    expect(() => parseKeys("")).toThrow(/at least one/);
    expect(() => parseKeys("k1:short")).toThrow(/at least 32/);
    expect(() => parseKeys(`bad key:${"a".repeat(40)}`)).toThrow(/key id/);
  });
});

describe("clickTimeOf", () => {
  test("reads the second an ID was minted for, without its keys; null for what is not a click ID", () => {
    const at = new Date("2026-11-30T23:59:59.750Z");
    const id = ClickIdCodec.fromSpec(`k1:${"s".repeat(32)}`).mint(42, at);
    expect(clickTimeOf(id)?.toISOString()).toBe("2026-11-30T23:59:59.000Z");
    expect(clickTimeOf("clk1")).toBeNull();
    expect(clickTimeOf(`${id.slice(0, -1)}*`)).toBeNull();
    const otherVersion = Buffer.from(id, "base64url");
    otherVersion[0] = 2;
    expect(clickTimeOf(otherVersion.toString("base64url"))).toBeNull();
  });
});
