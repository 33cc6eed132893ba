import type { ClickIdCodec } from "@roundtrip/clickid";
import type { Sql } from "@roundtrip/db";
import { RequestLog } from "@roundtrip/intake";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { audit } from "../../changes.ts";
import { getRow, IdParams, listRows } from "../common.ts";
import { ID_MESSAGE, isId } from "../../ids.ts";
import { view } from "../../visibility.ts";
import { ImportListQuery, ImportQuery, ImportSummary, MAX_IMPORT_BYTES, MAX_IMPORT_ROWS } from "./model.ts";
import { importCsv } from "./service.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";

/**
 * Batch import of conversions: `POST /v1/imports` with a CSV as `text/csv` (query
 * `advertiser_id`, `filename`) or as multipart form-data (field `file`, optional fields
 * `advertiser_id`). Answers one result per row; `GET /v1/imports/:id` shows them again from the
 * request log.
 */
export function imports(sql: Sql, codec: ClickIdCodec | null) {
  const log = new RequestLog(sql);
  return new Elysia({ prefix: "/v1/imports", tags: ["imports"] })
    .use(authentication(sql))
    .post(
      "/",
      async ({ request, query, principal, server, set }) => {
        assertCanWrite(principal);
        if (!codec) throw new HttpError(503, "unavailable", "CLICK_ID_KEYS is not configured on admin");
        const upload = await readUpload(request);
        // A file of thousands of rows takes longer than the server's default idle timeout.
        server?.timeout(request, 300);
        const advertiserId = upload.advertiserId ?? query.advertiser_id ?? null;
        if (advertiserId !== null && !isId(advertiserId)) {
          throw new HttpError(400, "invalid_request", `advertiser_id: ${ID_MESSAGE}`, "advertiser_id");
        }
        const summary = await importCsv(
          { sql, codec, log },
          {
            csv: upload.csv,
            actor: actor(principal),
            advertiserId,
            filename: upload.filename ?? query.filename ?? null,
          },
        );
        await sql.begin((tx) =>
          audit(tx, {
            actor: actor(principal),
            action: "import",
            resource: "imports",
            id: summary.import_id,
            after: {
              rows: summary.rows,
              accepted: summary.accepted,
              duplicates: summary.duplicates,
              rejected: summary.rejected,
            },
          }),
        );
        set.status = 201;
        return summary;
      },
      {
        parse: "none",
        query: ImportQuery,
        ...documented({
          summary: "Import conversions from a CSV",
          description: `Imports conversions from a CSV (a header row of postback parameter names, at most ${MAX_IMPORT_ROWS} rows) sent as a text/csv body or as multipart field \`file\`: every row goes through the gateway's validation and dedup, one result per row, in file order.`,
          requestBody: {
            "text/csv": t.String({ description: "the CSV, header row first" }),
            "multipart/form-data": t.Object({
              file: t.String({ format: "binary", description: "the CSV file" }),
            }),
          },
          response: ImportSummary,
          status: 201,
        }),
      },
    )
    .get(
      "/",
      ({ query, principal }) => {
        return listRows(
          sql,
          "imports",
          { advertiser_id: query.advertiser_id },
          query,
          view("imports", principal),
        );
      },
      {
        query: ImportListQuery,
        ...documented({
          summary: "Imports, newest last",
          description: "Past imports page by id with their counts; filter by advertiser.",
          response: Paged(Row("imports")),
        }),
      },
    )
    .get(
      "/:id",
      async ({ params, principal }) => {
        const summary = await getRow(sql, "imports", params.id, view("imports", principal));
        const rows = await sql`
          select import_row as row, http_status as status, outcome, reason, receipt_id, params
          from postback_log where import_id = ${params.id} order by import_row`;
        return { ...summary, results: [...rows] };
      },
      {
        params: IdParams,
        ...documented({
          summary: "An import and the outcome of each row (from the request log)",
          description: "One import with the outcome of each row (from the request log).",
          response: Row("imports", { extra: { results: t.Array(t.Record(t.String(), t.Unknown())) } }),
        }),
      },
    );
}

async function readUpload(
  request: Request,
): Promise<{ csv: string; advertiserId?: string; filename?: string }> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_IMPORT_BYTES) {
    throw new HttpError(413, "body_too_large", `the upload is larger than ${MAX_IMPORT_BYTES} bytes`, "file");
  }
  const type = (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (type === "multipart/form-data") {
    let form: FormData;
    try {
      form = await request.formData();
    } catch {
      throw new HttpError(400, "invalid_body", "the multipart body could not be read", "file");
    }
    const file = form.get("file");
    if (!file || typeof file === "string") {
      throw new HttpError(400, "invalid_request", "file: a CSV file field named `file` is required", "file");
    }
    if (file.size > MAX_IMPORT_BYTES)
      throw new HttpError(413, "body_too_large", "the file is too large", "file");
    const advertiserId = form.get("advertiser_id");
    return {
      csv: await file.text(),
      ...(typeof advertiserId === "string" && advertiserId !== "" ? { advertiserId } : {}),
      ...(file.name ? { filename: file.name.slice(0, 200) } : {}),
    };
  }
  if (type === "text/csv" || type === "text/plain" || type === "application/csv") {
    const csv = await request.text();
    if (csv.length > MAX_IMPORT_BYTES)
      throw new HttpError(413, "body_too_large", "the upload is too large", "file");
    return { csv };
  }
  throw new HttpError(
    415,
    "unsupported_media_type",
    "send the CSV as text/csv or as multipart/form-data (field `file`)",
    "file",
  );
}
