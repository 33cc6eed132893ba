import { IP_LIST_REASON, type IpListKind, type Reason } from "@roundtrip/contracts";
import type { Sql, Tx } from "@roundtrip/db";
import ipaddr from "ipaddr.js";

/**
 * The list kinds each address falls in (PostgreSQL `cidr >>= inet` over a GiST index: one query
 * for a batch). An address ipaddr.js does not read (CLICKS is an outside input once more) matches
 * nothing instead of failing the cast and the batch with it.
 */
export async function listKinds(tx: Sql | Tx, ips: readonly string[]): Promise<Map<string, Set<IpListKind>>> {
  const out = new Map<string, Set<IpListKind>>();
  const valid = [...new Set(ips)].filter(
    (ip) => ip && !ip.includes("%") && (ipaddr.IPv4.isValidFourPartDecimal(ip) || ipaddr.IPv6.isValid(ip)),
  );
  if (valid.length === 0) return out;
  const rows = await tx<{ ip: string; kind: IpListKind }[]>`
    select distinct a.ip, l.kind
    from unnest(${valid}::text[]) as a(ip)
    join ip_list_entries e on e.range >>= a.ip::inet
    join ip_lists l on l.id = e.list_id`;
  for (const r of rows) {
    const kinds = out.get(r.ip) ?? new Set<IpListKind>();
    kinds.add(r.kind);
    out.set(r.ip, kinds);
  }
  return out;
}

/** The reasons an address's lists record; an `allow` list exempts it from all of them. */
export function ipReasons(kinds: Set<IpListKind> | undefined): Reason[] {
  if (!kinds || kinds.has("allow")) return [];
  const out: Reason[] = [];
  for (const kind of kinds) if (kind !== "allow") out.push(IP_LIST_REASON[kind]);
  return out.sort();
}
