import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { audit, createAudited } from "../../changes.ts";
import { getRow, Id, IdParams, listRows, Page } from "../common.ts";
import { view, withoutSecrets } from "../../visibility.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";
import {
  ConversionDestinationCreate,
  ConversionDestinationPatch,
  DestinationTestResult,
  Platform,
} from "./model.ts";
import { checkPlatformSettings, tokenHint } from "./service.ts";
import type { SendTestSettings } from "../affiliate-postbacks/send-test.ts";
import { sendDestinationTest } from "./send-test.ts";

/**
 * Ad-platform destinations (docs/conversions-api.md): a brand's — or one offer's — Meta dataset,
 * Google Ads account or TikTok pixel, with its access token and which of our events become which
 * platform events. The delivery service forwards each qualifying conversion once per destination.
 * Staff only; tokens and app secrets are write-only (a hint is shown), every change is audited
 * without them. The delivery service reads destinations per conversion, so a change applies to
 * the next conversion planned (already planned deliveries keep their payload; a new token applies
 * to their next attempt).
 */
export function conversionDestinations(sql: Sql, testing: SendTestSettings) {
  return new Elysia({ prefix: "/v1/conversion-destinations", tags: ["conversion-destinations"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) =>
        listRows(
          sql,
          "conversion_destinations",
          {
            brand_id: query.brand_id,
            offer_id: query.offer_id,
            platform: query.platform,
            status: query.status,
          },
          query,
          view("conversion_destinations", principal),
        ),
      {
        query: t.Object({
          brand_id: t.Optional(Id),
          offer_id: t.Optional(Id),
          platform: t.Optional(Platform),
          status: t.Optional(t.Union([t.Literal("active"), t.Literal("disabled")])),
          ...Page,
        }),
        ...documented({
          summary: "List ad-platform destinations (tokens never shown)",
          description:
            "Conversions API destinations page by id; filter by brand, offer, platform or status. Staff only; the access token and app secret are write-only (token_hint shows the last 4 characters).",
          response: Paged(Row("conversion_destinations")),
        }),
      },
    )
    .get(
      "/:id",
      ({ params, principal }) =>
        getRow(sql, "conversion_destinations", params.id, view("conversion_destinations", principal)),
      {
        params: IdParams,
        ...documented({
          summary: "Get one ad-platform destination",
          description: "One Conversions API destination by id, without its token or app secret.",
          response: Row("conversion_destinations"),
        }),
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        checkPlatformSettings(body);
        const row = await createAudited(sql, null, principal, "conversion-destinations", async (tx) => {
          const [brand] = await tx`select id from brands where id = ${body.brand_id}`;
          if (!brand) throw new HttpError(400, "invalid_request", "no such brand", "brand_id");
          if (body.offer_id) {
            const [offer] = await tx`select brand_id from offers where id = ${body.offer_id}`;
            if (!offer) throw new HttpError(400, "invalid_request", "no such offer", "offer_id");
            if (offer.brand_id !== body.brand_id)
              throw new HttpError(400, "invalid_request", "the offer belongs to another brand", "offer_id");
          }
          const [created] = await tx`
            insert into conversion_destinations (brand_id, offer_id, platform, name, platform_account, login_account,
              access_token, token_hint, app_secret, oauth_client, oauth_client_secret, oauth_refresh_token, oauth_token_url,
              events, send_on, click_id_sub, event_source_url, test_event_code, base_url)
            values (${body.brand_id}, ${body.offer_id ?? null}, ${body.platform}, ${body.name}, ${body.platform_account},
              ${body.login_account ?? null}, ${body.access_token ?? null},
              ${tokenHint((body.access_token ?? body.oauth_refresh_token) as string)}, ${body.app_secret ?? null},
              ${body.oauth_client ?? null}, ${body.oauth_client_secret ?? null}, ${body.oauth_refresh_token ?? null},
              ${body.oauth_token_url ?? null}, ${tx.json(body.events)}, ${body.send_on ?? "booked"},
              ${body.click_id_sub ?? null}, ${body.event_source_url ?? null}, ${body.test_event_code ?? null},
              ${body.base_url ?? null})
            returning *`;
          if (!created) throw new Error("insert returned nothing");
          return withoutSecrets(created);
        });
        set.status = 201;
        return row;
      },
      {
        body: ConversionDestinationCreate,
        ...documented({
          summary: "Create an ad-platform destination (Meta, Google Ads, TikTok)",
          description:
            "Forwards the brand's (or one offer's) conversions to an ad platform: which events map to which platform events, with the access token (write-only). An offer's destination wins over the brand's for the same platform account. Audited without the token.",
          response: Row("conversion_destinations"),
          status: 201,
        }),
      },
    )
    .patch(
      "/:id",
      async ({ params, body, principal }) => {
        assertCanWrite(principal);
        if (Object.keys(body).length === 0)
          throw new HttpError(400, "invalid_request", "nothing to change", "(body)");
        return sql.begin(async (tx) => {
          const [before] = await tx`select * from conversion_destinations where id = ${params.id} for update`;
          if (!before) throw new HttpError(404, "not_found", "no such conversion-destination", "id");
          const pick = <K extends keyof typeof body>(k: K) =>
            body[k] === undefined ? before[k as string] : body[k];
          const next = {
            platform: before.platform,
            platform_account: pick("platform_account") as string,
            login_account: pick("login_account") as string | null,
            app_secret: pick("app_secret") as string | null,
            access_token: pick("access_token") as string | null,
            oauth_client: pick("oauth_client") as string | null,
            oauth_client_secret: pick("oauth_client_secret") as string | null,
            oauth_refresh_token: pick("oauth_refresh_token") as string | null,
            oauth_token_url: pick("oauth_token_url") as string | null,
            test_event_code: pick("test_event_code") as string | null,
            events: pick("events") as Record<string, { name: string }>,
          };
          checkPlatformSettings(next);
          const status = body.status ?? before.status;
          const enabling = status === "active" && before.status !== "active";
          const disabling = status === "disabled" && before.status !== "disabled";
          const hinted = next.access_token ?? next.oauth_refresh_token;
          const [after] = await tx`
            update conversion_destinations set
              name = ${pick("name") as string}, platform_account = ${next.platform_account}, login_account = ${next.login_account},
              access_token = ${next.access_token}, token_hint = ${hinted ? tokenHint(hinted) : before.token_hint},
              app_secret = ${next.app_secret}, oauth_client = ${next.oauth_client},
              oauth_client_secret = ${next.oauth_client_secret}, oauth_refresh_token = ${next.oauth_refresh_token},
              oauth_token_url = ${next.oauth_token_url},
              events = ${tx.json(next.events)}, send_on = ${pick("send_on") as string},
              click_id_sub = ${pick("click_id_sub") as string | null},
              event_source_url = ${pick("event_source_url") as string | null},
              test_event_code = ${next.test_event_code}, base_url = ${pick("base_url") as string | null},
              status = ${status},
              disabled_reason = ${enabling ? null : disabling ? "operator" : before.disabled_reason},
              disabled_at = ${enabling ? null : disabling ? new Date() : before.disabled_at},
              failing_since = ${enabling ? null : before.failing_since},
              updated_at = now()
            where id = ${params.id}
            returning *`;
          if (!after) throw new Error("update returned nothing");
          await audit(tx, {
            actor: actor(principal),
            action: "update",
            resource: "conversion-destinations",
            id: params.id,
            before: withoutSecrets(before),
            // which secrets changed, never their values
            after: {
              ...withoutSecrets(after),
              ...(body.access_token !== undefined ? { access_token: "(replaced)" } : {}),
              ...Object.fromEntries(
                (["app_secret", "oauth_client_secret", "oauth_refresh_token"] as const)
                  .filter((k) => body[k] !== undefined)
                  .map((k) => [k, body[k] === null ? null : "(replaced)"]),
              ),
            },
          });
          return withoutSecrets(after);
        });
      },
      {
        params: IdParams,
        body: ConversionDestinationPatch,
        ...documented({
          summary: "Change an ad-platform destination, rotate its token, or enable/disable it",
          description:
            "Changes a destination (mapping, token, settings) or enables/disables it; conversions planned from now on use the change, and a new token applies to the next attempt of deliveries already planned. Audited without secrets.",
          response: Row("conversion_destinations"),
        }),
      },
    )
    .post(
      "/:id/test",
      async ({ params, principal }) => {
        assertCanWrite(principal);
        const result = await sendDestinationTest(sql, params.id, testing);
        await sql.begin((tx) =>
          audit(tx, {
            actor: actor(principal),
            action: "send-test",
            resource: "conversion-destinations",
            id: params.id,
            after: {
              url: result.request.url,
              outcome: result.outcome,
              status: result.response?.status ?? null,
            },
          }),
        );
        return result;
      },
      {
        params: IdParams,
        ...documented({
          summary: "Send a test event to the platform in its test mode and see its answer",
          description:
            "One sample event built and authenticated as a forward, sent once in the platform's test mode so it never counts: Meta and TikTok with the destination's test_event_code (409 test_mode_unavailable without one), Google with validateOnly. outcome: delivered (accepted), failed (refused: the answer says why), refused (the SSRF guard), network_error. The request is shown without the token; nothing is stored but the audit entry.",
          response: DestinationTestResult,
        }),
      },
    );
}
