/**
 * A visitor's address for the n-th click of a load. Traffic comes from many addresses; a load
 * from 127.0.0.1 alone is one visitor clicking thousands of times a second — every click a flood
 * from one IP, every conversion from one device — which measures the traffic rules' worst case,
 * not the pipeline. The stack under load trusts one proxy hop (SOAK_ENV) and each request names its
 * visitor in X-Forwarded-For: public unicast addresses, about 16 million of them, none private.
 */
const FIRST_OCTETS = [23, 45, 62, 81, 93, 104, 151, 185] as const;

export function visitorAddress(n: number): string {
  const first = FIRST_OCTETS[n % FIRST_OCTETS.length] as number;
  const rest = Math.floor(n / FIRST_OCTETS.length);
  return `${first}.${(rest >> 16) & 255}.${(rest >> 8) & 255}.${rest & 255 || 1}`;
}
