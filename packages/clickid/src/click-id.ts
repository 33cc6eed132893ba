import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Self-authenticating click IDs (DESIGN.md "Click IDs").
 *
 * Layout, 27 bytes → 36 base64url characters:
 *   version(1) | key tag(1) | click time, unix seconds(4) | link id(5) | nonce(6) | HMAC-SHA256 truncated(10)
 * The nonce keeps IDs unique for clicks on one link within one second; 80 bits of MAC make forging
 * hopeless at any request rate the gateway will answer. The key tag is the first byte of
 * SHA-256(kid), so verification tries only the keys that can match (rotation keeps old keys).
 */
const VERSION = 1;
const BODY_BYTES = 17;
const MAC_BYTES = 10;
const TOTAL_BYTES = BODY_BYTES + MAC_BYTES;
const ENCODED_LENGTH = Math.ceil((TOTAL_BYTES * 4) / 3);
const MAX_LINK_ID = 2 ** 40 - 1;

export type ClickIdKey = { kid: string; secret: string; tag: number };
export type ClickIdClaims = { version: number; kid: string; clickedAt: Date; linkId: number };
export type VerifyResult =
  | { ok: true; claims: ClickIdClaims }
  | { ok: false; reason: "malformed" | "unknown_version" | "unknown_key" | "bad_signature" };

/** Parses `kid:secret[,kid:secret…]`; the first key signs, every key verifies. */
export function parseKeys(spec: string): ClickIdKey[] {
  const keys = spec
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const at = entry.indexOf(":");
      const kid = entry.slice(0, at);
      const secret = entry.slice(at + 1);
      if (at <= 0 || !/^[A-Za-z0-9_-]{1,32}$/.test(kid))
        throw new Error(`click ID key id is invalid: "${kid}"`);
      if (secret.length < 32) throw new Error(`click ID key "${kid}" secret must be at least 32 characters`);
      return { kid, secret, tag: createHash("sha256").update(kid).digest()[0] as number };
    });
  if (keys.length === 0) throw new Error("at least one click ID key is required");
  return keys;
}

export class ClickIdCodec {
  private readonly signer: ClickIdKey;
  private readonly body = new Uint8Array(BODY_BYTES);
  private readonly id = Buffer.alloc(TOTAL_BYTES);
  constructor(private readonly keys: ClickIdKey[]) {
    const [first] = keys;
    if (!first) throw new Error("at least one click ID key is required");
    this.signer = first;
  }

  static fromSpec(spec: string): ClickIdCodec {
    return new ClickIdCodec(parseKeys(spec));
  }

  mint(linkId: number, clickedAt: Date = new Date()): string {
    if (!Number.isSafeInteger(linkId) || linkId < 0 || linkId > MAX_LINK_ID)
      throw new RangeError("link id out of range");
    // The redirect mints one ID per click: the bytes are written into buffers this codec keeps
    // (minting is synchronous), with one native HMAC and no per-call views or random buffers.
    const body = this.body;
    const seconds = Math.floor(clickedAt.getTime() / 1000);
    const high = Math.floor(linkId / 2 ** 32);
    const low = linkId >>> 0;
    body[0] = VERSION;
    body[1] = this.signer.tag;
    body[2] = seconds >>> 24;
    body[3] = seconds >>> 16;
    body[4] = seconds >>> 8;
    body[5] = seconds;
    body[6] = high;
    body[7] = low >>> 24;
    body[8] = low >>> 16;
    body[9] = low >>> 8;
    body[10] = low;
    nonce(body, 11);
    const digest = new Bun.CryptoHasher("sha256", this.signer.secret).update(body).digest();
    const id = this.id;
    for (let i = 0; i < BODY_BYTES; i++) id[i] = body[i] as number;
    for (let i = 0; i < MAC_BYTES; i++) id[BODY_BYTES + i] = digest[i] as number;
    return id.toString("base64url");
  }

  verify(id: string): VerifyResult {
    if (id.length !== ENCODED_LENGTH || !/^[A-Za-z0-9_-]+$/.test(id))
      return { ok: false, reason: "malformed" };
    const buf = Buffer.from(id, "base64url");
    if (buf.length !== TOTAL_BYTES) return { ok: false, reason: "malformed" };
    if (buf[0] !== VERSION) return { ok: false, reason: "unknown_version" };
    const candidates = this.keys.filter((k) => k.tag === buf[1]);
    if (candidates.length === 0) return { ok: false, reason: "unknown_key" };
    const body = buf.subarray(0, BODY_BYTES);
    const given = buf.subarray(BODY_BYTES);
    const key = candidates.find((k) => timingSafeEqual(mac(k.secret, body), given));
    if (!key) return { ok: false, reason: "bad_signature" };
    return {
      ok: true,
      claims: {
        version: VERSION,
        kid: key.kid,
        clickedAt: new Date(buf.readUInt32BE(2) * 1000),
        linkId: buf.readUIntBE(6, 5),
      },
    };
  }
}

/**
 * The click time (whole seconds) an ID carries, read without verifying it: for finding the click
 * of an ID that was verified where it entered (attribution credits only verified IDs), so a
 * lookup probes only the partition that can hold it. Null when it is not shaped like a click ID.
 */
export function clickTimeOf(id: string): Date | null {
  if (id.length !== ENCODED_LENGTH || !/^[A-Za-z0-9_-]+$/.test(id)) return null;
  const buf = Buffer.from(id, "base64url");
  if (buf.length !== TOTAL_BYTES || buf[0] !== VERSION) return null;
  return new Date(buf.readUInt32BE(2) * 1000);
}

/** HMAC-SHA256 truncated, by Bun's native hasher (a third of node:crypto's createHmac per call). */
function mac(secret: string, body: Uint8Array): Uint8Array {
  return new Bun.CryptoHasher("sha256", secret).update(body).digest().subarray(0, MAC_BYTES);
}

const NONCE_BYTES = 6;
// Nonces come from the CSPRNG a few hundred at a time: one call per click cost more than the MAC.
const nonces = new Uint8Array(NONCE_BYTES * 512);
let nonceAt = nonces.length;

function nonce(into: Uint8Array, offset: number): void {
  if (nonceAt === nonces.length) {
    crypto.getRandomValues(nonces);
    nonceAt = 0;
  }
  for (let i = 0; i < NONCE_BYTES; i++) into[offset + i] = nonces[nonceAt + i] as number;
  nonceAt += NONCE_BYTES;
}
