import ipaddr from "ipaddr.js";

type Address = ipaddr.IPv4 | ipaddr.IPv6;
export type Allowlist = [Address, number][];

/**
 * `203.0.113.7`, `203.0.113.0/24`, `2001:db8::/32` → the range in canonical form. A single
 * address is its own /32 or /128; host bits in a CIDR are cleared (`10.1.2.3/8` → `10.0.0.0/8`).
 * Throws a RangeError naming the entry when it is neither.
 */
export function normaliseCidr(entry: string): string {
  const text = entry.trim();
  try {
    if (text.includes("/")) {
      const [addr, bits] = ipaddr.parseCIDR(text);
      const network = networkAddress(addr, bits);
      return `${network.toString()}/${bits}`;
    }
    const addr = ipaddr.parse(text);
    return `${addr.toString()}/${addr.kind() === "ipv4" ? 32 : 128}`;
  } catch {
    throw new RangeError(`not an IP address or CIDR range: ${JSON.stringify(entry.slice(0, 60))}`);
  }
}

function networkAddress(addr: Address, bits: number): Address {
  const bytes = addr.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i] = (bytes[i] as number) & (0xff << (8 - keep)) & 0xff;
  }
  return ipaddr.fromByteArray(bytes);
}

export function parseAllowlist(entries: readonly string[]): Allowlist {
  const list: Allowlist = [];
  for (const entry of entries) {
    try {
      list.push(ipaddr.parseCIDR(normaliseCidr(entry)));
    } catch {
      // Admin validates entries on write; a bad row must not take the whole cache down.
    }
  }
  return list;
}

/**
 * Whether `ip` falls in one of the ranges. An IPv4-mapped IPv6 address (`::ffff:203.0.113.7`,
 * what a dual-stack socket reports) is matched as the IPv4 address it carries.
 */
export function ipAllowed(ip: string | null, list: Allowlist): boolean {
  if (!ip) return false;
  let addr: Address;
  try {
    addr = ipaddr.process(ip);
  } catch {
    return false;
  }
  return list.some(([range, bits]) => range.kind() === addr.kind() && addr.match(range, bits));
}

/**
 * `none` keeps the address; `last-octet` zeroes the host part for privacy: IPv4 keeps /24,
 * IPv6 keeps /48 (an IPv4-mapped address is truncated as IPv4). Unparseable input becomes null
 * rather than being stored as given.
 */
export function truncateIp(ip: string | null, mode: "none" | "last-octet"): string | null {
  if (!ip) return null;
  if (mode === "none") return ip;
  let addr: Address;
  try {
    addr = ipaddr.process(ip);
  } catch {
    return null;
  }
  return networkAddress(addr, addr.kind() === "ipv4" ? 24 : 48).toString();
}
