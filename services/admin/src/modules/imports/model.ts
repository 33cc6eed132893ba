import { t } from "elysia";
import { Id, IdOf, Page } from "../common.ts";

/** Rows per file: larger files are split by the operator (each import is one request). */
export const MAX_IMPORT_ROWS = 10_000;
export const MAX_IMPORT_BYTES = 10 * 1024 * 1024;

export const ImportQuery = t.Object({
  advertiser_id: t.Optional(
    IdOf("only rows whose click belongs to this advertiser are taken; others are refused per row"),
  ),
  filename: t.Optional(t.String({ maxLength: 200 })),
});

export const ImportListQuery = t.Object({ advertiser_id: t.Optional(Id), ...Page });

export const RowResult = t.Object({
  row: t.Integer({ description: "line number in the file (the header is line 1)" }),
  status: t.Integer({ description: "the HTTP status the gateway would have answered" }),
  outcome: t.String({ description: "accepted, duplicate, invalid, unknown_click, forbidden" }),
  reason: t.Union([t.String(), t.Null()]),
  receipt_id: t.Union([t.String(), t.Null()]),
  duplicate: t.Boolean(),
  error: t.Optional(t.Unknown()),
});
export type RowResult = typeof RowResult.static;

export const ImportSummary = t.Object({
  import_id: t.String(),
  rows: t.Integer(),
  accepted: t.Integer(),
  duplicates: t.Integer(),
  rejected: t.Integer(),
  results: t.Array(RowResult),
});
export type ImportSummary = typeof ImportSummary.static;
