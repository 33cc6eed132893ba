import { Type as t } from "@sinclair/typebox";

/**
 * Routing rules of a tracking link (docs/routing.md): the admin API validates them with these
 * schemas, PostgreSQL stores them (link_routes, link_route_destinations) and the click service
 * evaluates them from its link cache.
 */

export const DEVICE_TYPES = [
  "desktop",
  "mobile",
  "tablet",
  "smarttv",
  "console",
  "wearable",
  "embedded",
] as const;
export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;

const Id = t.String({ pattern: "^[1-9][0-9]{0,18}$", description: "id (a bigint, as a string)" });
const TimeOfDay = t.String({ pattern: "^([01][0-9]|2[0-3]):[0-5][0-9]$", description: "HH:MM, 24-hour" });
const list = <T extends ReturnType<typeof t.String> | ReturnType<typeof t.Union>>(
  item: T,
  description: string,
  maxItems = 64,
) => t.Optional(t.Array(item, { minItems: 1, maxItems, uniqueItems: true, description }));

/** Every condition given must hold (AND); a rule with none matches every click. */
export const RouteConditions = t.Object(
  {
    countries: list(
      t.String({ pattern: "^[A-Z]{2}$", description: "ISO 3166-1 alpha-2, upper case" }),
      "the visitor's country (offline GeoIP of the client address) is one of these; an unknown country never matches",
      250,
    ),
    device_types: list(
      t.Union(DEVICE_TYPES.map((d) => t.Literal(d))),
      "the device class from the user agent (ua-parser-js): desktop, mobile, tablet, …",
    ),
    os: list(
      t.String({ minLength: 1, maxLength: 64 }),
      "the operating system as ua-parser-js names it (iOS, Android, Windows, Mac OS, Linux, …), case-insensitive",
    ),
    languages: list(
      t.String({ pattern: "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$" }),
      "the browser's preferred language (first of Accept-Language by q): `de` matches de, de-AT…; `pt-BR` only pt-BR",
    ),
    hours: t.Optional(
      t.Object(
        { from: TimeOfDay, to: TimeOfDay },
        {
          additionalProperties: false,
          description:
            "local time of day in the brand's time zone, from (inclusive) to (exclusive); to before from wraps past midnight",
        },
      ),
    ),
    weekdays: list(
      t.Union(WEEKDAYS.map((d) => t.Literal(d))),
      "local day of the week in the brand's time zone",
      7,
    ),
  },
  { additionalProperties: false },
);
export type RouteConditions = typeof RouteConditions.static;

export const RouteDestination = t.Object(
  {
    offer_id: Id,
    weight: t.Optional(
      t.Integer({
        minimum: 1,
        maximum: 1000,
        default: 1,
        description: "share among the rule's destinations (weight / sum of weights); default 1",
      }),
    ),
  },
  { additionalProperties: false },
);
export type RouteDestination = typeof RouteDestination.static;

const Destinations = t.Array(RouteDestination, { minItems: 1, maxItems: 20 });

export const RouteRule = t.Object(
  {
    name: t.Optional(t.String({ minLength: 1, maxLength: 100 })),
    when: t.Optional(RouteConditions),
    destinations: Destinations,
  },
  { additionalProperties: false },
);
export type RouteRule = typeof RouteRule.static;

/** The whole routing of a link, replaced at once (rules are evaluated in this order). */
export const RoutingPut = t.Object(
  {
    rules: t.Array(RouteRule, {
      maxItems: 50,
      description: "evaluated in order; the first that matches serves",
    }),
    fallback: t.Optional(
      t.Array(RouteDestination, {
        minItems: 1,
        maxItems: 20,
        description:
          "where a click goes when no rule matches or every destination of the matching rule is paused or capped; default: the link's own offer",
      }),
    ),
  },
  { additionalProperties: false },
);
export type RoutingPut = typeof RoutingPut.static;
