import { FormatRegistry, Type as t } from "@sinclair/typebox";
import ipaddr from "ipaddr.js";
import { type Allowlist, ipAllowed, normaliseCidr } from "./ip.ts";

/**
 * Which proxies in front of the service may speak for the client. `hops`: how many proxies
 * always stand between the internet and us (an ingress and a cloud load balancer = 2); `proxies`:
 * addresses of proxies we trust wherever they appear in the chain.
 */
export type ProxyTrust = { hops: number; proxies: Allowlist };

export const NO_PROXY: ProxyTrust = { hops: 0, proxies: [] };

FormatRegistry.Set("cidr-list", (value) => {
  try {
    for (const entry of splitList(value)) normaliseCidr(entry);
    return true;
  } catch {
    return false;
  }
});

/** The environment variables of every service that resolves a client address (click, gateway). */
export const proxyTrustEnv = {
  // Comma-separated addresses or CIDR ranges of the proxies in front of us (`10.0.0.0/8,fd00::/8`).
  TRUSTED_PROXIES: t.String({ format: "cidr-list", default: "" }),
  // How many proxies always stand in front of us; their X-Forwarded-For entries are read from the right.
  TRUSTED_PROXY_HOPS: t.Integer({ minimum: 0, maximum: 10, default: 0 }),
  // Deprecated: `true` means TRUSTED_PROXY_HOPS=1 (it once trusted the leftmost entry, which a client forges).
  TRUST_PROXY: t.Boolean({ default: false }),
};

export function proxyTrust(env: {
  TRUSTED_PROXIES: string;
  TRUSTED_PROXY_HOPS: number;
  TRUST_PROXY: boolean;
}): ProxyTrust {
  return {
    hops: Math.max(env.TRUSTED_PROXY_HOPS, env.TRUST_PROXY ? 1 : 0),
    proxies: splitList(env.TRUSTED_PROXIES).map((entry) => ipaddr.parseCIDR(normaliseCidr(entry))),
  };
}

/**
 * The client's address: the socket's peer, unless that peer is a trusted proxy, in which case
 * the X-Forwarded-For entries are walked from the right (each proxy appends the address it saw)
 * until the first address that is not a trusted proxy. The leftmost entries are whatever the
 * client chose to send, so they are only reached through a chain of trusted proxies. The result
 * is canonical (an IPv4-mapped IPv6 peer becomes its IPv4 address); an entry that is not an
 * address where the client's should be gives null (unknown client), never the text as sent.
 */
export function clientAddress(
  socket: string | null | undefined,
  forwardedFor: string | null,
  trust: ProxyTrust,
): string | null {
  let current = parse(socket);
  if (!current || (trust.hops === 0 && trust.proxies.length === 0)) return current;
  const forwarded = forwardedFor ? forwardedFor.split(",") : [];
  for (let hop = 0; isTrusted(current, hop, trust); hop++) {
    const next = forwarded.pop();
    // Every hop was a trusted proxy: the furthest one we know of is the best answer.
    if (next === undefined) return current;
    current = parse(next.trim());
    if (!current) return null;
  }
  return current;
}

/** Bun's server as a handler sees it; the socket's address is only known to it. */
type SocketServer = { requestIP(request: Request): { address: string } | null } | null | undefined;

/** The client address of a request served by a real Bun server. */
export function requestClientAddress(
  request: Request,
  server: SocketServer,
  trust: ProxyTrust,
): string | null {
  return clientAddress(server?.requestIP(request)?.address, request.headers.get("x-forwarded-for"), trust);
}

function isTrusted(address: string, hop: number, trust: ProxyTrust): boolean {
  return hop < trust.hops || ipAllowed(address, trust.proxies);
}

function parse(text: string | null | undefined): string | null {
  if (!text) return null;
  // The forms a socket's peer takes (IPv4, or IPv4-mapped on a dual-stack listener) are answered
  // without ipaddr.js, whose parse and canonical form cost the redirect more than its own work.
  const v4 = canonicalIpv4(text.startsWith("::ffff:") ? text.slice(7) : text);
  if (v4) return v4;
  // Strict forms only: ipaddr.js would also read `127.1` or `0x7f000001` as addresses.
  if (!(ipaddr.IPv4.isValidFourPartDecimal(text) || ipaddr.IPv6.isValid(text))) return null;
  return ipaddr.process(text).toString();
}

/**
 * `text` itself when it is a dotted quad in canonical form (four decimal octets up to 255, no
 * leading zeros): ipaddr.js would answer the same string. Null for anything else, which then
 * takes the full parse.
 */
export function canonicalIpv4(text: string): string | null {
  const n = text.length;
  if (n < 7 || n > 15) return null;
  let dots = 0;
  let digits = 0;
  let octet = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return null;
      digits = 0;
      octet = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return null; // a leading zero
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return null;
    } else return null;
  }
  return dots === 3 && digits > 0 ? text : null;
}

function splitList(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}
