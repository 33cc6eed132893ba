import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** Secrets of the local stack, generated once so a restart keeps click IDs and the API key valid. */
export interface LocalSecrets {
  /** `kid:secret` — signs and verifies click IDs. */
  CLICK_ID_KEYS: string;
  /** The admin API key that exists at start-up. */
  ADMIN_BOOTSTRAP_API_KEY: string;
  /** The console password of the first admin user (LOCAL_ADMIN_EMAIL), printed in the banner. */
  ADMIN_BOOTSTRAP_PASSWORD: string;
  /** The demo advertiser's postback token (we choose it, so it can be printed on every start). */
  DEMO_ADVERTISER_TOKEN: string;
}

/** The first admin user of the local stack; sign in to the console with it and the password above. */
export const LOCAL_ADMIN_EMAIL = "admin@roundtrip.localhost";

/** `length` random characters from the URL-safe base64 alphabet. */
export function randomUrlSafe(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil((length * 3) / 4)));
  return Buffer.from(bytes).toString("base64url").slice(0, length);
}

function generate(): LocalSecrets {
  return {
    CLICK_ID_KEYS: `k1:${randomUrlSafe(48)}`,
    ADMIN_BOOTSTRAP_API_KEY: `rt_admin_${randomUrlSafe(32)}`,
    DEMO_ADVERTISER_TOKEN: `demo_${randomUrlSafe(32)}`,
    ADMIN_BOOTSTRAP_PASSWORD: randomUrlSafe(20),
  };
}

/** Read `path`, filling in (and saving) any secret it does not have yet. */
export function loadOrCreateSecrets(path: string): LocalSecrets {
  const stored: Partial<LocalSecrets> = existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : {};
  const secrets = { ...generate(), ...stored };
  if (Object.keys(secrets).some((key) => !(key in stored))) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
  }
  return secrets;
}
