import type { Bus } from "@roundtrip/bus";
import type { Sql, Tx } from "@roundtrip/db";
import { normaliseCidr, SIGNATURE_HEADER, SIGNATURE_TOLERANCE_S } from "@roundtrip/intake";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { assertCanRead } from "../../visibility.ts";
import { announce, audit } from "../../changes.ts";
import { IdParams, notFound, Strict, withoutSecrets } from "../common.ts";
import { documented } from "../../openapi/documented.ts";
import { Row } from "../../openapi/rows.ts";
import { AuthSummary, AdvertiserWithAuth } from "../../openapi/schemas.ts";

/**
 * How the gateway takes an advertiser's postbacks. Each check is on when configured and every
 * configured check must pass: token (token_hash set), signature (a current signing key), IP
 * allowlist (non-empty). Plus its rate limit, whether browser pixels count, and the window in
 * which a postback without a txid repeats an earlier one.
 */
export const IntakeSettings = {
  ip_allowlist: t.Optional(
    t.Array(t.String({ minLength: 1, maxLength: 64 }), {
      maxItems: 100,
      description:
        "CIDR ranges or single addresses (IPv4, IPv6) the advertiser posts from; empty = any address",
    }),
  ),
  rate_limit_per_second: t.Optional(
    t.Union([t.Integer({ minimum: 1, maximum: 1_000_000 }), t.Null()], {
      description: "postbacks per second per gateway replica; null = the gateway's default",
    }),
  ),
  pixel_enabled: t.Optional(
    t.Boolean({ description: "accept browser pixel conversions (they cannot carry a secret)" }),
  ),
  pixel_sets_money: t.Optional(
    t.Boolean({
      description:
        "let this advertiser's pixels set the amount and the event's default status (off: a pixel creates a pending conversion with no amount; only the S2S report moves money)",
    }),
  ),
  dedup_window_hours: t.Optional(
    t.Integer({
      minimum: 1,
      maximum: 8760,
      description: "a postback without a txid repeating (click ID, event) within this window is a duplicate",
    }),
  ),
};

export const SigningSecret = t.String({
  minLength: 32,
  maxLength: 200,
  pattern: "^[\\x21-\\x7E]+$",
  description: "HMAC-SHA256 secret, at least 32 printable characters",
});

/** Allowlist entries in canonical CIDR form, each bad one refused by name. */
export function normaliseAllowlist(entries: string[] | undefined): string[] | undefined {
  if (entries === undefined) return undefined;
  const out: string[] = [];
  for (const [i, entry] of entries.entries()) {
    try {
      const cidr = normaliseCidr(entry);
      if (!out.includes(cidr)) out.push(cidr);
    } catch (err) {
      throw new HttpError(
        400,
        "invalid_request",
        `ip_allowlist[${i}]: ${(err as Error).message}`,
        "ip_allowlist",
      );
    }
  }
  return out;
}

export const newSecret = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");

/** Adds a signing key; the current ones keep verifying for `graceHours` (rotation without downtime). */
export async function addSigningKey(
  tx: Tx,
  advertiserId: string,
  secret: string,
  graceHours: number,
): Promise<Date | null> {
  const [prev] = await tx<{ until: Date | null }[]>`
    update advertiser_signing_keys set expires_at = least(coalesce(expires_at, 'infinity'), now() + make_interval(hours => ${graceHours}))
    where advertiser_id = ${advertiserId} and (expires_at is null or expires_at > now())
    returning expires_at as until`;
  await tx`insert into advertiser_signing_keys (advertiser_id, secret) values (${advertiserId}, ${secret})`;
  return prev?.until ?? null;
}

/** What is switched on, for the advertiser's own view (never a secret). */
export async function authSummary(sql: Sql, advertiser: Record<string, unknown>) {
  const keys = await sql<{ id: string; created_at: Date; expires_at: Date | null }[]>`
    select id, created_at, expires_at from advertiser_signing_keys
    where advertiser_id = ${advertiser.id as string} and (expires_at is null or expires_at > now())
    order by id`;
  const allowlist = (advertiser.ip_allowlist ?? []) as string[];
  return {
    token: advertiser.token_hash !== null && advertiser.token_hash !== undefined,
    signature: {
      enabled: keys.length > 0,
      header: SIGNATURE_HEADER,
      tolerance_seconds: SIGNATURE_TOLERANCE_S,
      keys: [...keys],
    },
    ip_allowlist: allowlist.length > 0,
    pixel: advertiser.pixel_enabled === true,
  };
}

/** Signing secrets (issued or rotated, shown once) and switching the token or signature check off. */
export function advertiserAuthentication(sql: Sql, bus: Bus) {
  const change = async (
    principal: Parameters<typeof assertCanWrite>[0],
    id: string,
    action: string,
    effect: (tx: Tx) => Promise<Record<string, unknown>>,
  ) => {
    assertCanWrite(principal);
    const result = await sql.begin(async (tx) => {
      const [before] = await tx`select * from advertisers where id = ${id} for update`;
      if (!before) throw notFound("advertisers");
      const extra = await effect(tx);
      const [after] = await tx`select * from advertisers where id = ${id}`;
      await audit(tx, {
        actor: actor(principal),
        action,
        resource: "advertisers",
        id,
        before: withoutSecrets(before),
        after: {
          ...withoutSecrets(after ?? {}),
          ...("signing_secret" in extra ? { signing_secret: "***" } : {}),
        },
      });
      return { row: withoutSecrets(after ?? {}), extra };
    });
    await announce(bus, "advertisers", id);
    return { ...result.row, auth: await authSummary(sql, result.row), ...result.extra };
  };

  // Mounted inside advertiserManagement, which gives it the /v1/advertisers prefix.
  return new Elysia({ name: "advertiser-authentication", tags: ["advertisers"] })
    .use(authentication(sql))
    .get(
      "/:id/auth",
      async ({ params, principal }) => {
        assertCanRead("advertisers", principal);
        const [row] = await sql`select * from advertisers where id = ${params.id}`;
        if (!row) throw notFound("advertisers");
        return authSummary(sql, row);
      },
      {
        params: IdParams,
        ...documented({
          summary: "Which postback checks are on (token, signature, IP allowlist, pixel)",
          description:
            "Which checks the gateway applies to this advertiser's postbacks: token, HMAC signature (header, tolerance, keys without secrets), IP allowlist, pixel.",
          response: AuthSummary,
        }),
      },
    )
    .post(
      "/:id/signing-secret",
      ({ params, body, principal }) =>
        change(principal, params.id, "rotate-signing-secret", async (tx) => {
          // Only checked types count: an optional body sent as non-JSON reaches here unvalidated.
          const secret = typeof body?.secret === "string" ? body.secret : newSecret();
          const grace = typeof body?.grace_hours === "number" ? body.grace_hours : 24;
          const previousValidUntil = await addSigningKey(tx, params.id, secret, grace);
          // Shown once, here.
          return { signing_secret: secret, previous_valid_until: previousValidUntil };
        }),
      {
        params: IdParams,
        body: t.Optional(
          Strict({
            secret: t.Optional(SigningSecret),
            grace_hours: t.Optional(
              t.Integer({
                minimum: 0,
                maximum: 168,
                description: "how long the previous secret keeps verifying",
              }),
            ),
          }),
        ),
        ...documented({
          summary:
            "Turn on signed postbacks, or rotate the secret (the old one verifies for the grace period)",
          description:
            "Adds an HMAC signing secret (generated when not given), shown once in `signing_secret`; the previous one keeps verifying for `grace_hours` (default 24).",
          response: Row("advertisers", {
            extra: {
              auth: AuthSummary,
              signing_secret: t.String({ description: "shown once" }),
              previous_valid_until: t.Union([t.String(), t.Null()]),
            },
          }),
        }),
      },
    )
    .delete(
      "/:id/signing-secret",
      ({ params, principal }) =>
        change(principal, params.id, "disable-signature", async (tx) => {
          await tx`update advertiser_signing_keys set expires_at = now()
                   where advertiser_id = ${params.id} and (expires_at is null or expires_at > now())`;
          return {};
        }),
      {
        params: IdParams,
        ...documented({
          summary: "Stop requiring signatures",
          description:
            "Expires every signing key of the advertiser now: postbacks are no longer required to be signed.",
          response: AdvertiserWithAuth,
        }),
      },
    )
    .delete(
      "/:id/token",
      ({ params, principal }) =>
        change(principal, params.id, "disable-token", async (tx) => {
          await tx`update advertisers set token_hash = null, token_hint = null where id = ${params.id}`;
          return {};
        }),
      {
        params: IdParams,
        ...documented({
          summary: "Stop requiring the token (rotate-token turns it on again)",
          description:
            "Clears the token: postbacks are accepted without one (use a signature or IP allowlist instead). rotate-token turns it on again.",
          response: AdvertiserWithAuth,
        }),
      },
    );
}
