import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication, hashKey } from "../../auth.ts";
import { announce, audit } from "../../changes.ts";
import { Strict, getRow, IdParams, notFound, patchRow, Status, withoutSecrets } from "../common.ts";
import { view } from "../../visibility.ts";
import { CANONICAL_PARAMS } from "./index.ts";
import {
  advertiserAuthentication,
  authSummary,
  IntakeSettings,
  normaliseAllowlist,
} from "./intake-settings.ts";
import { documented } from "../../openapi/documented.ts";
import { Row } from "../../openapi/rows.ts";
import { AdvertiserWithAuth, PostbackGuide } from "../../openapi/schemas.ts";

export const AdvertiserUpdate = Strict({
  name: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  status: t.Optional(Status),
  param_aliases: t.Optional(
    t.Record(
      t.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$" }),
      t.Union(CANONICAL_PARAMS.map((p) => t.Literal(p))),
    ),
  ),
  ...IntakeSettings,
});

/** What each canonical postback parameter means, for the guide an advertiser's developers read. */
export const PARAMETER_GUIDE: { name: string; required: boolean; description: string; example: string }[] = [
  {
    name: "click_id",
    required: true,
    description:
      "The click ID your landing page received; store it with the user record and send it back unchanged.",
    example: "AQx…(36 characters)",
  },
  {
    name: "txid",
    required: false,
    description:
      "Your unique transaction/event ID. Strongly recommended: it is the dedup key, so a retried postback is never booked twice.",
    example: "dep-100234",
  },
  {
    name: "event",
    required: true,
    description: "Event code configured on the offer (see events below).",
    example: "ftd",
  },
  {
    name: "amount",
    required: false,
    description: "Event value (deposit or sale amount), decimal with a dot.",
    example: "100.00",
  },
  {
    name: "payout",
    required: false,
    description: "Payout override, when your contract allows it.",
    example: "25.00",
  },
  {
    name: "currency",
    required: false,
    description: "ISO 4217 code; the offer's currency when absent.",
    example: "EUR",
  },
  {
    name: "status",
    required: false,
    description:
      "pending, approved, rejected or reversed; the event's default when absent. Send a later postback with the same txid to change it.",
    example: "approved",
  },
  {
    name: "timestamp",
    required: false,
    description: "Event time, ISO 8601 or Unix seconds; the receipt time when absent.",
    example: "1767225600",
  },
  {
    name: "brand",
    required: false,
    description: "Brand slug, when one endpoint serves several brands.",
    example: "demo",
  },
  {
    name: "ref_txid",
    required: false,
    description:
      "For a refund or chargeback: the txid of the transaction it reverses (or send the refund with that same txid).",
    example: "dep-100234",
  },
  {
    name: "token",
    required: true,
    description:
      "Your secret postback token (shown once when created or rotated). Never put it in client-side code.",
    example: "<your token>",
  },
];

/**
 * Advertiser changes beyond creation, and the postback guide the operator hands to the
 * advertiser's developers (copyable URL with the advertiser's own parameter names).
 */
export function advertiserManagement(sql: Sql, bus: Bus, publicGatewayUrl: string) {
  return new Elysia({ prefix: "/v1/advertisers", tags: ["advertisers"] })
    .use(authentication(sql))
    .use(advertiserAuthentication(sql, bus))
    .patch(
      "/:id",
      async ({ params, body, principal }) => {
        const row = await patchRow(sql, bus, principal, {
          table: "advertisers",
          resource: "advertisers",
          id: params.id,
          changes: { ...body, ip_allowlist: normaliseAllowlist(body.ip_allowlist) },
        });
        return {
          ...row,
          auth: await authSummary(
            sql,
            (await sql`select * from advertisers where id = ${params.id}`)[0] ?? row,
          ),
        };
      },
      {
        params: IdParams,
        body: AdvertiserUpdate,
        ...documented({
          summary:
            "Rename, pause/resume, change parameter aliases, IP allowlist, rate limit, pixel and dedup window",
          description:
            "Changes an advertiser (audited); the gateway follows within a second. Answers the advertiser with a summary of its postback checks.",
          response: AdvertiserWithAuth,
        }),
      },
    )
    .post(
      "/:id/rotate-token",
      async ({ params, principal }) => {
        assertCanWrite(principal);
        const token = Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url");
        const row = await sql.begin(async (tx) => {
          const [before] = await tx`select * from advertisers where id = ${params.id} for update`;
          if (!before) throw notFound("advertisers");
          const [after] = await tx`
            update advertisers set token_hash = ${hashKey(token)}, token_hint = ${token.slice(-4)}
            where id = ${params.id} returning *`;
          if (!after) throw notFound("advertisers");
          await audit(tx, {
            actor: actor(principal),
            action: "rotate-token",
            resource: "advertisers",
            id: params.id,
            before: withoutSecrets(before),
            after: withoutSecrets(after),
          });
          return withoutSecrets(after);
        });
        await announce(bus, "advertisers", params.id);
        // Shown once, here; only the hash is kept.
        return { ...row, token };
      },
      {
        params: IdParams,
        ...documented({
          summary: "Issue a new postback token (the old one stops working at once)",
          description:
            "Generates a new postback token, shown once in this answer (`token`); only its hash is kept and the old token stops working at once.",
          response: Row("advertisers", { extra: { token: t.String({ description: "shown once" }) } }),
        }),
      },
    )
    .get(
      "/:id/postback-guide",
      async ({ params, principal }) => {
        const advertiser = await getRow(sql, "advertisers", params.id, view("advertisers", principal));
        const [brand] = await sql`select slug from brands where id = ${advertiser.brand_id as string}`;
        const offers = await sql`
          select o.id, o.name, o.status, o.currency,
                 coalesce(json_agg(json_build_object('code', e.code, 'window_days', e.window_days,
                   'default_status', e.default_status) order by e.code) filter (where e.code is not null), '[]') as events
          from offers o left join offer_events e on e.offer_id = o.id
          where o.advertiser_id = ${params.id} group by o.id order by o.id`;
        const [raw] = await sql`select * from advertisers where id = ${params.id}`;
        const auth = await authSummary(sql, raw ?? advertiser);
        return postbackGuide(
          publicGatewayUrl,
          advertiser,
          brand?.slug as string | undefined,
          [...offers],
          auth,
        );
      },
      {
        params: IdParams,
        ...documented({
          summary: "Postback URL and parameter guide for the advertiser's developers",
          description:
            "Everything the advertiser's developers need: the postback URL in their own parameter names, each parameter, the checks in force, the answers they will get, and the offers with their events.",
          response: PostbackGuide,
        }),
      },
    );
}

export function postbackGuide(
  gateway: string,
  advertiser: Record<string, unknown>,
  brandSlug: string | undefined,
  offers: Record<string, unknown>[],
  auth?: Awaited<ReturnType<typeof authSummary>>,
) {
  const aliases = (advertiser.param_aliases ?? {}) as Record<string, string>;
  // The advertiser's own name for each canonical parameter (first alias wins), else the canonical name.
  const nameFor = (canonical: string) =>
    Object.entries(aliases).find(([, c]) => c === canonical)?.[0] ?? canonical;
  const macro = (p: string) => `{${p}}`;
  const tokenOn = auth ? auth.token : true;
  const query = ["click_id", "txid", "event", "amount", "currency", "status", "timestamp"]
    .map((p) => `${nameFor(p)}=${macro(p)}`)
    .concat(
      tokenOn
        ? [
            `${nameFor("token")}=${advertiser.token_hint ? `YOUR_TOKEN(…${advertiser.token_hint})` : "YOUR_TOKEN"}`,
          ]
        : [],
    )
    .join("&");
  return {
    advertiser_id: advertiser.id,
    brand: brandSlug ?? null,
    postback_url: `${gateway}/postback?${query}`,
    ...(brandSlug ? { brand_postback_url: `${gateway}/postback/${brandSlug}?${query}` } : {}),
    methods: ["GET (query string)", "POST (JSON or form body, same names)"],
    ...(auth
      ? {
          checks: {
            token: auth.token,
            signature: auth.signature.enabled
              ? {
                  header: auth.signature.header,
                  format: "t=<unix seconds>,v1=<hex HMAC-SHA256 of `<t>.<METHOD>.<path?query>.<raw body>`>",
                  tolerance_seconds: auth.signature.tolerance_seconds,
                  note: "sign every request afresh: a signature is accepted once",
                }
              : false,
            ip_allowlist: auth.ip_allowlist ? (advertiser.ip_allowlist ?? []) : false,
          },
          ...(auth.pixel
            ? {
                pixel: {
                  image: `${gateway}/pixel?event={event}&txid={txid}&amount={amount}`,
                  script: `${gateway}/pixel.js`,
                },
              }
            : {}),
        }
      : {}),
    token_hint: advertiser.token_hint ?? null,
    parameters: PARAMETER_GUIDE.map((p) => ({ ...p, your_name: nameFor(p.name) })),
    aliases,
    responses: [
      { status: 200, meaning: 'accepted; {"duplicate": true} means we already had it — stop retrying' },
      { status: 400, meaning: "a parameter is missing or malformed; the body names the field" },
      { status: 401, meaning: "missing or wrong token; missing, wrong, expired or reused signature" },
      { status: 403, meaning: "the advertiser is paused, or the request's IP is not on the allowlist" },
      {
        status: 422,
        meaning: "the click ID is not one we issued (forged, truncated, or an unreplaced macro)",
      },
      { status: 429, meaning: "rate limited; retry after the Retry-After header" },
    ],
    offers,
  };
}
