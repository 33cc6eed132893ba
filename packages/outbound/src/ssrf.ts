import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

/**
 * The SSRF guard. An affiliate's postback URL is attacker-controlled input as far as our network
 * is concerned, so before every attempt the host is resolved and every address it resolves to
 * must be public unicast: loopback, private, link-local (169.254.169.254, the cloud metadata
 * service, is one), CGNAT, multicast, unspecified, reserved and IPv4-mapped IPv6 addresses are
 * refused. The request then connects to the address that was checked (no second DNS lookup, so
 * no DNS rebinding) and never follows redirects. `DELIVERY_ALLOWED_CIDRS` lists ranges exempt
 * from the guard (tests, private networks); it is empty by default.
 */
export class BlockedAddressError extends Error {
  override readonly name = "BlockedAddressError";
  readonly code = "blocked_address";
  constructor(
    readonly host: string,
    readonly address: string,
    readonly range: string,
  ) {
    super(`refused to connect to ${host}: ${address} is ${range}`);
  }
}

export class BadTargetError extends Error {
  override readonly name = "BadTargetError";
  readonly code = "bad_target";
}

export type Target = { url: URL; host: string; address: string; family: 4 | 6 };
export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;

export type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** `127.0.0.0/8,::1/128` → parsed ranges; a bad entry throws naming it (config fails fast). */
export function parseCidrs(spec: string): Cidr[] {
  return spec
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      try {
        return ipaddr.parseCIDR(s) as Cidr;
      } catch {
        throw new Error(`DELIVERY_ALLOWED_CIDRS: not a CIDR: ${s}`);
      }
    });
}

const systemResolver: Resolver = (host) => lookup(host, { all: true, verbatim: true });

/** Why an address is refused, or null when it may be connected to. */
export function refusal(address: string, allowed: Cidr[]): string | null {
  if (!ipaddr.isValid(address)) return "not an IP address";
  const ip = ipaddr.parse(address);
  for (const [range, bits] of allowed) {
    if (range.kind() === ip.kind() && ip.match(range as never, bits)) return null;
  }
  if (ip.kind() === "ipv6" && (ip as ipaddr.IPv6).isIPv4MappedAddress()) return "an IPv4-mapped IPv6 address";
  const range = ip.range();
  return range === "unicast" ? null : `${range} (${ip.kind()})`;
}

/** Resolves and checks the URL's host; the result names the one address to connect to. */
export async function checkTarget(
  raw: string,
  allowed: Cidr[],
  resolve: Resolver = systemResolver,
): Promise<Target> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new BadTargetError(`not a URL: ${raw.slice(0, 200)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new BadTargetError(`scheme ${url.protocol} is not allowed`);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await resolve(host);
  if (addresses.length === 0) throw new BadTargetError(`${host} resolves to no address`);
  for (const a of addresses) {
    const why = refusal(a.address, allowed);
    if (why) throw new BlockedAddressError(host, a.address, why);
  }
  const chosen = addresses[0] as { address: string; family: number };
  return { url, host, address: chosen.address, family: chosen.family === 6 ? 6 : 4 };
}
