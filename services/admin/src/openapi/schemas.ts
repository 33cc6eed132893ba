/** Response shapes that are not a table's row (rows.ts builds those), for documented(). */
import { t } from "elysia";
import { Row } from "./rows.ts";

const Id = t.String({ pattern: "^[1-9][0-9]{0,18}$" });
const Loose = t.Record(t.String(), t.Unknown());

export const Me = t.Object({
  kind: t.Union([t.Literal("api-key"), t.Literal("user")]),
  key_id: t.Union([Id, t.Null()]),
  user_id: t.Union([Id, t.Null()]),
  name: t.String(),
  role: t.Union([t.Literal("admin"), t.Literal("manager"), t.Literal("analyst"), t.Literal("affiliate")]),
  affiliate_id: t.Union([Id, t.Null()]),
});

export const AuthSummary = t.Object({
  token: t.Boolean({ description: "the token is required" }),
  signature: t.Object({
    enabled: t.Boolean(),
    header: t.String(),
    tolerance_seconds: t.Integer(),
    keys: t.Array(Loose, { description: "signing keys: id, hint, created and expiry (never the secret)" }),
  }),
  ip_allowlist: t.Boolean(),
  pixel: t.Boolean(),
});

export const AdvertiserWithAuth = Row("advertisers", { extra: { auth: AuthSummary } });

export const PostbackGuide = t.Object({
  advertiser_id: Id,
  brand: t.Union([t.String(), t.Null()]),
  postback_url: t.String({ description: "the URL to copy, in the advertiser's own parameter names" }),
  brand_postback_url: t.Optional(t.String()),
  methods: t.Array(t.String()),
  checks: t.Optional(Loose),
  pixel: t.Optional(t.Object({ image: t.String(), script: t.String() })),
  token_hint: t.Union([t.String(), t.Null()]),
  parameters: t.Array(
    t.Object({
      name: t.String(),
      required: t.Boolean(),
      description: t.String(),
      example: t.String(),
      your_name: t.String(),
    }),
  ),
  aliases: t.Record(t.String(), t.String()),
  responses: t.Array(t.Object({ status: t.Integer(), meaning: t.String() })),
  offers: t.Array(Loose),
});

export const Report = t.Object(
  {
    rows: t.Array(Loose, {
      description: "one row per group; columns per the report's dimensions and measures",
    }),
    totals: t.Optional(t.Array(Loose)),
  },
  { description: "the report's rows (with format=csv: the same rows as text/csv)" },
);

export const ReportsIndex = t.Object({
  reports: t.Array(t.Object({ name: t.String(), path: t.String(), method: t.Optional(t.String()) })),
});

export const Trace = t.Object(
  {
    query: Loose,
    clicks: t.Array(Loose),
    postback_requests: t.Array(Loose, { description: "raw requests, secrets masked" }),
    receipts: t.Array(Loose, { description: "each with its dedup and attribution decision" }),
    conversions: t.Array(Loose, {
      description: "each with history, ledger entries and deliveries with attempts",
    }),
    timeline: t.Array(
      t.Object({ at: t.Unknown(), kind: t.String(), summary: t.String(), ref: t.Optional(t.Unknown()) }),
    ),
  },
  {
    description:
      "the click, every postback request and receipt, conversions, ledger entries and delivery attempts",
  },
);

export const Csv = t.String({ description: "CSV with a header row" });

export const ReplayResult = t.Object({ id: Id, status: t.Literal("pending") });
export const BulkReplayResult = t.Object({
  replayed: t.Union([t.Integer(), t.Array(Id)]),
  skipped_disabled: t.Integer(),
});
export const Counted = (field: string) => t.Object({ [field]: t.Integer() });
export const ListOf = (row: ReturnType<typeof Row>) => t.Object({ data: t.Array(row) });

const Decimal = t.String({ pattern: "^-?[0-9]+(\\.[0-9]+)?$", description: "decimal, as a string" });

export const OfferRow = Row("offers", {
  extra: { events: t.Array(Row("offer_events", { omit: ["offer_id"] })) },
});
export const LinkRow = Row("links", {
  extra: { tracking_url: t.String({ description: "the URL to hand to the affiliate" }) },
});
export const ApiKeyCreated = t.Object({
  id: Id,
  name: t.String(),
  role: t.String(),
  affiliate_id: t.Union([Id, t.Null()]),
  key_prefix: t.String(),
  created_at: t.String({ format: "date-time" }),
  key: t.String({ description: "the API key: shown in this answer only" }),
});
export const ApiKeyRevoked = t.Object({
  id: Id,
  name: t.String(),
  role: t.String(),
  revoked_at: t.String({ format: "date-time" }),
});
export const BalanceRow = t.Object({
  affiliate_id: Id,
  currency: t.String(),
  available: Decimal,
  pending: Decimal,
  total: Decimal,
  commission: t.Optional(Decimal),
  reversal: t.Optional(Decimal),
  adjustment: t.Optional(Decimal),
  entries: t.Optional(t.Integer()),
});
export const AdvertiserCreated = Row("advertisers", {
  extra: {
    auth: AuthSummary,
    token: t.Union([t.String({ description: "shown once" }), t.Null()]),
    signing_secret: t.Optional(t.String({ description: "shown once, when one was asked for" })),
  },
});
