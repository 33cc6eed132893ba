import { describe, expect, test } from "bun:test";
import { BadTargetError, BlockedAddressError, checkTarget, parseCidrs, refusal } from "./ssrf.ts";

describe("the SSRF guard", () => {
  test.each([
    ["127.0.0.1", "loopback"],
    ["127.8.9.10", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "linkLocal"], // cloud metadata
    ["100.64.0.1", "carrierGradeNat"],
    ["224.0.0.1", "multicast"],
    ["0.0.0.0", "unspecified"],
    ["255.255.255.255", "broadcast"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fe80::1", "linkLocal"],
    ["fd00:ec2::254", "uniqueLocal"], // AWS metadata over IPv6
    ["ff02::1", "multicast"],
    ["::ffff:127.0.0.1", "IPv4-mapped"],
    ["::ffff:8.8.8.8", "IPv4-mapped"],
    ["64:ff9b::7f00:1", "rfc6052"], // NAT64 of 127.0.0.1
  ])("refuses %s (%s)", (address, why) => {
    expect(refusal(address, [])).toContain(why);
  });

  test.each(["8.8.8.8", "93.184.216.34", "2001:4860:4860::8888"])("allows public %s", (address) => {
    expect(refusal(address, [])).toBeNull();
  });

  test("the allowlist exempts its ranges only, and never an IPv4-mapped address", () => {
    const allowed = parseCidrs("127.0.0.0/8, 10.20.0.0/16");
    expect(refusal("127.0.0.1", allowed)).toBeNull();
    expect(refusal("10.20.5.5", allowed)).toBeNull();
    expect(refusal("10.21.0.1", allowed)).toContain("private");
    expect(refusal("::1", allowed)).toContain("loopback");
    expect(refusal("::ffff:127.0.0.1", allowed)).toContain("IPv4-mapped");
    expect(() => parseCidrs("10.0.0.0/8,nonsense")).toThrow(/DELIVERY_ALLOWED_CIDRS: not a CIDR: nonsense/);
  });

  test("a name is resolved and every address it resolves to is checked", async () => {
    const resolver = async () => [
      { address: "93.184.216.34", family: 4 },
      { address: "10.0.0.5", family: 4 },
    ];
    const err = await checkTarget("https://mixed.example/pb", [], resolver).catch((e) => e);
    expect(err).toBeInstanceOf(BlockedAddressError);
    expect(err.message).toBe("refused to connect to mixed.example: 10.0.0.5 is private (ipv4)");
    // localhost through the system resolver
    expect(checkTarget("http://localhost:9/pb", [])).rejects.toBeInstanceOf(BlockedAddressError);
  });

  test("the target names the checked address, which is what the sender connects to", async () => {
    let lookups = 0;
    const target = await checkTarget("https://affiliate.example:8443/pb?x=1", [], async () => {
      lookups++;
      return [{ address: "93.184.216.34", family: 4 }];
    });
    expect(target).toMatchObject({ host: "affiliate.example", address: "93.184.216.34", family: 4 });
    expect(lookups).toBe(1);
  });

  test("only http and https URLs", async () => {
    expect(checkTarget("file:///etc/passwd", [])).rejects.toBeInstanceOf(BadTargetError);
    expect(checkTarget("gopher://127.0.0.1/", [])).rejects.toBeInstanceOf(BadTargetError);
    expect(checkTarget("not a url", [])).rejects.toBeInstanceOf(BadTargetError);
  });
});
