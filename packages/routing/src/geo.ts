import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import ipaddr from "ipaddr.js";
import { type CountryResponse, Reader } from "mmdb-lib";

/** The country database that ships with Roundtrip: NRO's RIR data merged by ip-location-db (CC BY 4.0 by NRO). */
export const BUNDLED_COUNTRY_DB = "@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb";

type CountryRecord = { country_code?: string; country?: { iso_code?: string } };

/**
 * Country of an IP address, offline: an MMDB file read into memory once at start (the bundled
 * one is ~8 MB, IPv4 and IPv6; a lookup costs about a microsecond), so the redirect never waits
 * on anything for it. Any country MMDB works — ip-location-db's `country_code` layout or
 * MaxMind's GeoIP2/GeoLite2 `country.iso_code` — so an operator with a licensed database points
 * GEOIP_COUNTRY_DB at it. Addresses that are not public unicast (private, loopback, CGNAT,
 * documentation…) have no country: RIR data would otherwise name whoever holds the block.
 */
export class CountryLookup {
  private readonly reader: Reader<CountryResponse>;

  constructor(path: string = bundledCountryDbPath()) {
    this.reader = new Reader<CountryResponse>(readFileSync(path));
  }

  /** ISO 3166-1 alpha-2 (upper case), or null when unknown. */
  country(ip: string | null): string | null {
    const address = ip ? publicAddress(ip) : null;
    if (!address) return null;
    let record: CountryRecord | null;
    try {
      // ip-location-db names the country `country_code`; MaxMind `country.iso_code`.
      record = this.reader.get(address) as unknown as CountryRecord | null;
    } catch {
      return null; // not an address the reader can read (a truncated or odd form)
    }
    const code = record?.country_code ?? record?.country?.iso_code;
    return code && /^[A-Z]{2}$/.test(code) ? code : null;
  }

  /** When the database was built (its metadata), for /readyz-style reporting and docs. */
  get builtAt(): Date {
    return this.reader.metadata.buildEpoch;
  }
}

export function bundledCountryDbPath(): string {
  return createRequire(import.meta.url).resolve(BUNDLED_COUNTRY_DB);
}

/**
 * The address to look up when it is public unicast, else null. IPv4 — nearly every click — is
 * checked by its octets (ipaddr.js would cost more than the lookup itself); IPv6 by ipaddr.js,
 * which also unwraps an IPv4-mapped address.
 */
function publicAddress(ip: string): string | null {
  if (!ip.includes(":")) return isPublicV4(ip) ? ip : null;
  try {
    const parsed = ipaddr.process(ip);
    return parsed.range() === "unicast" ? parsed.toString() : null;
  } catch {
    return null;
  }
}

function isPublicV4(ip: string): boolean {
  const parts = ip.split(".");
  if (parts.length !== 4) return false;
  const a = Number(parts[0]);
  const b = Number(parts[1]);
  const c = Number(parts[2]);
  if (!(a >= 0 && a <= 255 && b >= 0 && b <= 255 && c >= 0 && c <= 255)) return false;
  // IANA special-purpose blocks (RFC 6890 and successors): nobody's country.
  if (a === 0 || a === 10 || a === 127 || a >= 224) return false;
  if (a === 100 && b >= 64 && b <= 127) return false;
  if (a === 169 && b === 254) return false;
  if (a === 172 && b >= 16 && b <= 31) return false;
  if (a === 192 && ((b === 0 && (c === 0 || c === 2)) || b === 168)) return false;
  if (a === 198 && (b === 18 || b === 19 || (b === 51 && c === 100))) return false;
  if (a === 203 && b === 0 && c === 113) return false;
  return true;
}
