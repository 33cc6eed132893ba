import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { announce, audit } from "../../changes.ts";
import { documented } from "../../openapi/documented.ts";
import { view } from "../../visibility.ts";
import { IdParams } from "../common.ts";
import { RoutingDocument, RoutingPut } from "./model.ts";
import { deleteRouting, putRouting, readRouting } from "./service.ts";

/**
 * Routing rules of a tracking link, and smart links spanning offers (docs/routing.md): the whole
 * routing is read, replaced or removed at once, audited (resource `link-routing`, id the link),
 * and the click service's link cache follows within a second. Staff only: rules name other
 * offers and the operator's choices.
 */
export function linkRouting(sql: Sql, bus: Bus) {
  return new Elysia({ prefix: "/v1/links", tags: ["links"] })
    .use(authentication(sql))
    .get(
      "/:id/routing",
      async ({ params, principal }) => {
        view("link_routing", principal);
        return readRouting(sql, params.id);
      },
      {
        params: IdParams,
        ...documented({
          summary: "Get a link's routing rules (staff)",
          description:
            "The rules in force, in evaluation order, each with its conditions and weighted destinations (offer and the link its clicks are recorded on), and the fallback. " +
            "A link without routing answers empty rules and a null fallback. Staff only.",
          response: RoutingDocument,
        }),
      },
    )
    .put(
      "/:id/routing",
      async ({ params, body, principal }) => {
        assertCanWrite(principal);
        const who = actor(principal);
        const after = await sql.begin(async (tx) => {
          const change = await putRouting(tx, params.id, body, (link) =>
            audit(tx, { actor: who, action: "create", resource: "links", id: String(link.id), after: link }),
          );
          await audit(tx, {
            actor: who,
            action: change.before ? "update" : "create",
            resource: "link-routing",
            id: params.id,
            before: change.before ?? undefined,
            after: change.after,
          });
          return change.after;
        });
        await announce(bus, "links", params.id);
        return after;
      },
      {
        params: IdParams,
        body: RoutingPut,
        ...documented({
          summary:
            "Set a link's routing: rules by country, device, OS, language and time, weights and a fallback",
          description:
            "Replaces the link's routing as a whole (the rules in force are retired; clicks keep naming the rule that served them). " +
            "Destinations are offers of the link's brand; one on another offer gets the affiliate's link on it, made once (parent_link_id), whose click IDs credit that offer. " +
            "The fallback defaults to the link's own offer. Audited; the click service applies it within a second. 400 names the field.",
          response: RoutingDocument,
        }),
      },
    )
    .delete(
      "/:id/routing",
      async ({ params, principal }) => {
        assertCanWrite(principal);
        const before = await sql.begin(async (tx) => {
          const routing = await deleteRouting(tx, params.id);
          if (routing)
            await audit(tx, {
              actor: actor(principal),
              action: "delete",
              resource: "link-routing",
              id: params.id,
              before: routing,
            });
          return routing;
        });
        if (before) await announce(bus, "links", params.id);
        return { deleted: before !== null, link_id: params.id };
      },
      {
        params: IdParams,
        ...documented({
          summary: "Remove a link's routing: its clicks go to its own offer again",
          description:
            "Retires every rule of the link (audited); deleted is false when it did not route. Destination links stay, as plain links of the affiliate.",
          response: t.Object({ deleted: t.Boolean(), link_id: t.String() }),
        }),
      },
    );
}
