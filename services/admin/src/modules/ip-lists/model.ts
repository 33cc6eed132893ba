import { IP_LIST_KINDS } from "@roundtrip/contracts";
import { t } from "elysia";

export const IpListKind = t.Union(
  IP_LIST_KINDS.map((k) => t.Literal(k)),
  {
    description:
      "datacenter, vpn, tor, block (each records its reason code) or allow (exempts from every IP rule)",
  },
);

export const IpListCreate = t.Object({
  name: t.String({ minLength: 1, maxLength: 100 }),
  kind: IpListKind,
  source: t.Optional(
    t.Union([t.String({ maxLength: 500 }), t.Null()], { description: "where the ranges come from" }),
  ),
});
export type IpListCreate = typeof IpListCreate.static;

/** At most this many entries per upload; larger lists go in several appends. */
export const MAX_ENTRIES = 200_000;

export const EntriesQuery = t.Object({
  mode: t.Optional(
    t.Union([t.Literal("replace"), t.Literal("append")], {
      description: "replace (default): the list becomes exactly these entries; append: they are added",
    }),
  ),
});
