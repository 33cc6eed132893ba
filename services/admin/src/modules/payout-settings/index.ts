import type { Sql } from "@roundtrip/db";
import { Elysia, t } from "elysia";
import { authentication } from "../../auth.ts";
import { view } from "../../visibility.ts";
import { writeAudited } from "../../changes.ts";
import { IdParams } from "../common.ts";
import { assertOwnAffiliate } from "../payment-details/service.ts";
import {
  MinimumInput,
  MinimumParams,
  MinimumView,
  OfferCarryoverInput,
  OfferCarryoverParams,
  PayoutSettingsInput,
  PayoutSettingsView,
} from "./model.ts";
import { readSettings, writeMinimum, writeSettings } from "./service.ts";

/** Payout cycles, holds, the sub-affiliate tree, negative carryover, and minimums per currency. */
export function payoutSettings(sql: Sql) {
  return new Elysia({ tags: ["payouts"] })
    .use(authentication(sql))
    .get(
      "/v1/affiliates/:id/payout-settings",
      async ({ params, principal }) => {
        const show = view("payout_settings", principal);
        assertOwnAffiliate(principal, params.id);
        return show(await readSettings(sql, params.id));
      },
      {
        params: IdParams,
        response: { 200: PayoutSettingsView },
        detail: {
          summary:
            "An affiliate's payout cycle, hold, parent and shares, carryover mode (defaults when unset)",
          description:
            "The payout settings of one affiliate, with the defaults filled in where none were set. An affiliate key reads its own only.",
        },
      },
    )
    .put(
      "/v1/affiliates/:id/payout-settings",
      async ({ params, body, principal }) => {
        return writeAudited(sql, principal, { resource: "payout_settings", id: params.id }, (tx) =>
          writeSettings(tx, params.id, body),
        );
      },
      {
        params: IdParams,
        body: PayoutSettingsInput,
        response: { 200: PayoutSettingsView },
        detail: {
          summary: "Set an affiliate's payout cycle, hold, parent affiliate and shares, carryover mode",
          description:
            "Fields left out take their defaults. A parent that would make the affiliate its own ancestor is refused. Shares apply to commissions booked from now on.",
        },
      },
    )
    .put(
      "/v1/affiliates/:id/offer-carryover/:offer_id",
      async ({ params, body, principal }) => {
        return writeAudited(sql, principal, { resource: "payout_settings", id: params.id }, async (tx) => {
          const before = await readSettings(tx, params.id);
          await tx`
            insert into affiliate_offer_carryover (affiliate_id, offer_id, negative_carryover)
            values (${params.id}, ${params.offer_id}, ${body.negative_carryover})
            on conflict (affiliate_id, offer_id) do update set negative_carryover = excluded.negative_carryover`;
          return { before, after: await readSettings(tx, params.id) };
        });
      },
      {
        params: OfferCarryoverParams,
        body: OfferCarryoverInput,
        response: { 200: PayoutSettingsView },
        detail: {
          summary:
            "Override the affiliate's carryover mode for one offer (e.g. a RevShare offer that resets)",
          description:
            "Sets how a negative balance on one offer carries over for this affiliate, overriding its general mode; answers the affiliate's settings (audited).",
        },
      },
    )
    .get(
      "/v1/payout-minimums",
      async ({ principal }) => {
        const show = view("payout_minimums", principal);
        const rows = await sql<
          { currency: string; minimum: string }[]
        >`select currency::text, minimum::text from payout_minimums order by currency`;
        return { data: rows.map(show) };
      },
      {
        response: { 200: t.Object({ data: t.Array(MinimumView) }) },
        detail: {
          summary: "Minimum payout per currency (below it a balance waits for a later cycle)",
          description:
            "The minimum payout of each currency that has one; a balance below it waits for a later payout cycle.",
        },
      },
    )
    .put(
      "/v1/payout-minimums/:currency",
      async ({ params, body, principal }) => {
        return writeAudited(sql, principal, { resource: "payout_minimums", id: params.currency }, (tx) =>
          writeMinimum(tx, params.currency, body.minimum),
        );
      },
      {
        params: MinimumParams,
        body: MinimumInput,
        response: { 200: MinimumView },
        detail: {
          summary: "Set the minimum payout of a currency",
          description:
            "Sets (or replaces) the minimum payout of one currency (audited); applies from the next payout cycle.",
        },
      },
    );
}
