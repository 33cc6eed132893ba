/**
 * The visitor key of a click: a keyed hash (HMAC-SHA-256, 128 bits, base64url) of link, IP and
 * user agent. Unique vs. repeat is decided from it by the consumers of CLICKS, where every click
 * replica's clicks meet (packages/db/src/unique-visits.ts), so the click service keeps no visitor
 * memory and a visitor spread over replicas counts once. Keyed, so the stored key cannot be
 * reversed by hashing every IPv4 address with a common user agent; the key derives from
 * CLICK_ID_KEYS (a rotation starts new windows: repeats within the first 24 h count unique once).
 */
export function visitorKeyer(
  secret: string,
): (linkId: number, ip: string | null, userAgent: string | null) => string {
  return (linkId, ip, userAgent) => {
    const h = new Bun.CryptoHasher("sha256", secret);
    h.update(`${linkId}\u0000${ip ?? ""}\u0000${userAgent ?? ""}`);
    return h.digest("base64url").slice(0, 22);
  };
}
