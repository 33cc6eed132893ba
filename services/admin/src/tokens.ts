/** Secrets we hand out once (API keys, session and invitation tokens): random, stored only as hashes. */

/** SHA-256 hex: high-entropy tokens need no slow hash, and a lookup by hash is one index probe. */
export function hashKey(key: string): string {
  return new Bun.CryptoHasher("sha256").update(key).digest("hex");
}

/** `bytes` random bytes as URL-safe base64 (32 bytes → 43 characters). */
export function randomToken(bytes = 32): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("base64url");
}

/** A new API key: high-entropy, prefixed so a leaked key is recognisable in logs and scanners. */
export function newApiKey(): string {
  return `rt_${randomToken(24)}`;
}
