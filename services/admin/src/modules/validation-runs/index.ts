import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { audit } from "../../changes.ts";
import { Decimal, EventCode, getRow, Id, IdParams, listRows, Page } from "../common.ts";
import { view } from "../../visibility.ts";
import { type RunnerDeps, type RunSettings, runValidation } from "./runner.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";

export const ValidationRunCreate = t.Object({
  offer_id: Id,
  token: t.String({
    minLength: 1,
    maxLength: 256,
    description: "the advertiser's postback token, used for the test postbacks only (never stored or shown)",
  }),
  affiliates: t.Optional(
    t.Integer({ minimum: 3, maximum: 5, default: 3, description: "test affiliates (3–5)" }),
  ),
  registration_event: t.Optional(EventCode),
  deposit_event: t.Optional(EventCode),
  deposit_amount: t.Optional(Decimal),
  landing_click_id_param: t.Optional(
    t.String({
      pattern: "^[A-Za-z0-9_.-]{1,64}$",
      description:
        "the parameter the advertiser's landing page stores the click ID from (default: where the offer puts it)",
    }),
  ),
  wait_seconds: t.Optional(
    t.Integer({ minimum: 1, maximum: 300, default: 30, description: "how long to wait for attribution" }),
  ),
});

/**
 * Launch validation: `POST` starts the protocol (202, runs in the background), `GET` shows the
 * checks as they complete. The advertiser token in the request is used for the test postbacks and
 * forgotten; it is in no table, log or audit entry.
 */
export function validationRuns(sql: Sql, deps: RunnerDeps) {
  const running = new Set<Promise<void>>();
  let stopping = false;
  const plugin = new Elysia({ prefix: "/v1/validation-runs", tags: ["validation-runs"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) => {
        return listRows(
          sql,
          "validation_runs",
          { offer_id: query.offer_id, status: query.status },
          { order: "desc", ...query },
          view("validation_runs", principal),
        );
      },
      {
        query: t.Object({
          offer_id: t.Optional(Id),
          status: t.Optional(
            t.Union([t.Literal("running"), t.Literal("passed"), t.Literal("failed"), t.Literal("error")]),
          ),
          ...Page,
        }),
        ...documented({
          summary: "List validation runs, newest first",
          description: "Pre-launch validation runs page by id, newest first; filter by offer or status.",
          response: Paged(Row("validation_runs")),
        }),
      },
    )
    .get(
      "/:id",
      ({ params, principal }) => {
        return getRow(sql, "validation_runs", params.id, view("validation_runs", principal));
      },
      {
        params: IdParams,
        ...documented({
          summary: "Get a validation run with its checks",
          description: "One validation run with each check's outcome.",
          response: Row("validation_runs"),
        }),
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        if (stopping) throw new HttpError(503, "unavailable", "admin is shutting down");
        const { token, wait_seconds, ...rest } = body;
        const settings: RunSettings = {
          ...rest,
          affiliates: body.affiliates ?? 3,
          deposit_amount: body.deposit_amount ?? "100.00",
          wait_ms: (wait_seconds ?? 30) * 1000,
        };
        const who = actor(principal);
        const run = await sql.begin(async (tx) => {
          const [offer] = await tx`select id from offers where id = ${body.offer_id}`;
          if (!offer) throw new HttpError(400, "invalid_request", "offer_id: no such offer", "offer_id");
          const [created] = await tx`
            insert into validation_runs (offer_id, settings, created_by)
            values (${body.offer_id}, ${tx.json(settings as never)}, ${who}) returning *`;
          if (!created) throw new Error("insert returned nothing");
          await audit(tx, {
            actor: who,
            action: "create",
            resource: "validation-runs",
            id: created.id,
            after: created,
          });
          return created;
        });
        const job = runValidation(deps, run.id as string, settings, token, who, () => stopping).finally(() =>
          running.delete(job),
        );
        running.add(job);
        set.status = 202;
        return run;
      },
      {
        body: ValidationRunCreate,
        ...documented({
          summary: "Start the pre-launch protocol for an offer (runs in the background; poll GET /:id)",
          description:
            "Starts the pre-launch protocol for an offer in the background (test click, postback, attribution, commission, delivery); poll GET /v1/validation-runs/{id}.",
          response: Row("validation_runs"),
          status: 202,
        }),
      },
    );
  return {
    routes: plugin,
    /** Lets running protocols stop at their next step and waits for them. */
    async drain() {
      stopping = true;
      await Promise.allSettled([...running]);
    },
  };
}

/** A run left `running` by a process that died is marked as interrupted (runs take minutes at most). */
export async function markAbandonedRuns(sql: Sql): Promise<void> {
  await sql`
    update validation_runs set status = 'error', error = 'interrupted: admin restarted during the run', finished_at = now()
    where status = 'running' and started_at < now() - interval '15 minutes'`;
}
