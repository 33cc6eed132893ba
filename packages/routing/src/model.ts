import { Type as t } from "@sinclair/typebox";

/**
 * The conditions of a routing rule (docs/routing.md): the admin API validates them with this
 * schema (inside its routing document), PostgreSQL stores them (link_routes.conditions) and the
 * click service reads them back through it before compiling them.
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
          additionalProperties: t.Never(),
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
  { additionalProperties: t.Never() },
);
export type RouteConditions = typeof RouteConditions.static;
