import { RouteConditions } from "@roundtrip/routing";
import { t } from "elysia";
import { Id, IdOf } from "../common.ts";

export const RouteDestination = t.Object(
  {
    offer_id: IdOf("an offer of the link's brand (its own offer, or another: a smart link)"),
    weight: t.Optional(
      t.Integer({
        minimum: 1,
        maximum: 1000,
        default: 1,
        description: "share among the rule's destinations: weight / sum of weights (default 1)",
      }),
    ),
  },
  { additionalProperties: t.Never() },
);

const Destinations = (description: string) =>
  t.Array(RouteDestination, { minItems: 1, maxItems: 20, description });

export const RouteRule = t.Object(
  {
    name: t.Optional(t.String({ minLength: 1, maxLength: 100 })),
    when: t.Optional(RouteConditions),
    destinations: Destinations(
      "where a matching click goes, by weight; a paused or capped one gives way to the next",
    ),
  },
  { additionalProperties: t.Never() },
);

/** The whole routing of a link, replaced at once (docs/routing.md). */
export const RoutingPut = t.Object(
  {
    rules: t.Array(RouteRule, {
      maxItems: 50,
      description: "evaluated in order; the first whose every condition holds serves the click",
    }),
    fallback: t.Optional(
      Destinations(
        "where a click goes when no rule matches, or every destination of the matching rule is paused or full; default: the link's own offer",
      ),
    ),
  },
  { additionalProperties: t.Never() },
);
export type RoutingPut = typeof RoutingPut.static;

const DestinationOut = t.Object({
  id: Id,
  offer_id: Id,
  link_id: IdOf("the link a click sent here is recorded on, and its click ID names"),
  weight: t.Integer(),
});

/** A link's live routing as GET answers it (rules empty and fallback null: the link does not route). */
export const RoutingDocument = t.Object({
  link_id: Id,
  timezone: t.String({ description: "the brand's time zone: rules' hours and weekdays are local to it" }),
  rules: t.Array(
    t.Object({
      id: Id,
      name: t.Union([t.String(), t.Null()]),
      when: t.Record(t.String(), t.Unknown()),
      destinations: t.Array(DestinationOut),
    }),
  ),
  fallback: t.Union([t.Object({ id: Id, destinations: t.Array(DestinationOut) }), t.Null()]),
  updated_at: t.Union([t.String({ format: "date-time" }), t.Null()]),
});
export type RoutingDocument = typeof RoutingDocument.static;
