import { describe, expect, test } from "bun:test";
import { loadConfig, serviceEnv } from "@roundtrip/config";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { canonicalIpv4, clientAddress, NO_PROXY, proxyTrust, proxyTrustEnv } from "./client-address.ts";

const trust = (env: Partial<Record<keyof typeof proxyTrustEnv, string>>) =>
  proxyTrust(
    loadConfig(serviceEnv(1, proxyTrustEnv), {
      DATABASE_URL: "postgres://x",
      NATS_URL: "nats://x",
      ...env,
    }),
  );

const ipv4 = fc.ipV4();
/** What a client may put in X-Forwarded-For: anything, including addresses and junk. */
const forged = fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 20 })), { maxLength: 5 });

describe("client address", () => {
  test("without trusted proxies the socket's address is the client, whatever the headers say", () => {
    expect(clientAddress("203.0.113.9", "198.51.100.1", NO_PROXY)).toBe("203.0.113.9");
    expect(clientAddress("::ffff:127.0.0.1", null, NO_PROXY)).toBe("127.0.0.1");
    expect(clientAddress(null, "198.51.100.1", NO_PROXY)).toBeNull();
  });

  test("one trusted hop: the entry the proxy appended (right-most), never the client's own", () => {
    const oneHop = trust({ TRUSTED_PROXY_HOPS: "1" });
    expect(clientAddress("10.0.0.2", "6.6.6.6, 203.0.113.7", oneHop)).toBe("203.0.113.7");
    expect(clientAddress("10.0.0.2", null, oneHop)).toBe("10.0.0.2");
    expect(clientAddress("10.0.0.2", "6.6.6.6, not-an-ip", oneHop)).toBeNull();
    // The deprecated switch means the same, no longer the forgeable left-most entry.
    expect(clientAddress("10.0.0.2", "6.6.6.6, 203.0.113.7", trust({ TRUST_PROXY: "true" }))).toBe(
      "203.0.113.7",
    );
  });

  test("trusted CIDRs: walk from the right past every trusted proxy to the first untrusted hop", () => {
    const cidrs = trust({ TRUSTED_PROXIES: "10.0.0.0/8, 2001:db8::/32" });
    expect(clientAddress("10.1.1.1", "6.6.6.6, 203.0.113.7, 10.2.2.2, 2001:db8::5", cidrs)).toBe(
      "203.0.113.7",
    );
    // A peer outside the trusted ranges is the client even if it sends a header.
    expect(clientAddress("198.51.100.3", "10.0.0.1", cidrs)).toBe("198.51.100.3");
  });

  test("property: the fast IPv4 path answers exactly what ipaddr.js answers, and only for what it accepts", () => {
    // What ipaddr.js makes of a text, through the strict forms the client address accepts.
    const slow = (text: string) =>
      ipaddr.IPv4.isValidFourPartDecimal(text) || ipaddr.IPv6.isValid(text)
        ? ipaddr.process(text).toString()
        : null;
    const octet = fc.oneof(
      fc.integer({ min: 0, max: 300 }).map(String),
      fc.constantFrom("00", "01", "007", "0x1", "", " 1", "1 "),
    );
    const near = fc
      .tuple(octet, octet, octet, octet, fc.constantFrom("", "::ffff:", "::FFFF:", "::", "x", "."))
      .map(([a, b, c, d, pre]) => `${pre}${a}.${b}.${c}.${d}`);
    fc.assert(
      fc.property(fc.oneof(near, fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 20 })), (text) => {
        const fast = canonicalIpv4(text);
        if (fast !== null) expect(slow(text)).toBe(fast);
        expect(clientAddress(text, null, NO_PROXY)).toBe(slow(text));
      }),
      { numRuns: 5_000 },
    );
    expect(canonicalIpv4("203.0.113.9")).toBe("203.0.113.9");
    expect(canonicalIpv4("203.0.113.09")).toBeNull();
    expect(canonicalIpv4("256.0.0.1")).toBeNull();
    expect(canonicalIpv4("1.2.3")).toBeNull();
  });

  test("a bad TRUSTED_PROXIES entry fails the configuration, naming the variable", () => {
    expect(() => trust({ TRUSTED_PROXIES: "10.0.0.0/8,nope" })).toThrow(/TRUSTED_PROXIES/);
  });

  test("property: whatever a client prepends, behind N trusted hops the answer is the address the first proxy saw", () => {
    fc.assert(
      fc.property(
        forged,
        ipv4,
        fc.array(ipv4, { minLength: 1, maxLength: 3 }),
        (spoofed, client, proxies) => {
          // proxies[0] is nearest the client; the socket's peer is the last proxy.
          const seen = [client, ...proxies.slice(0, -1)];
          const header = [...spoofed, ...seen].join(", ");
          const peer = proxies[proxies.length - 1] as string;
          const hops = trust({ TRUSTED_PROXY_HOPS: String(proxies.length) });
          expect(clientAddress(peer, header, hops)).toBe(client);
        },
      ),
      { numRuns: 300 },
    );
  });
});
