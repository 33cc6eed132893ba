import { OUTBOX_CHANNEL } from "@roundtrip/bus";
import type { ClickIdCodec } from "@roundtrip/clickid";
import type { Sql } from "@roundtrip/db";
import { type Decision, loadDirectory, receive, type RequestLog } from "@roundtrip/intake";
import { HttpError } from "@roundtrip/service";
import { parse } from "csv-parse/sync";
import { MAX_IMPORT_ROWS, type ImportSummary, type RowResult } from "./model.ts";

type CsvRecord = { record: string[]; info: { lines: number } };

/**
 * A CSV of conversions (header row of postback parameter names — canonical, default or the
 * advertiser's own aliases) → one result per row. Every row goes through the gateway's very
 * intake path (packages/intake): the same validation, click ID verification, dedup and atomic
 * receipt + log + outbox write, so a row that duplicates an earlier S2S postback (or an earlier
 * row) is a duplicate here too. Only the per-request checks (token, signature, IP, rate limit)
 * are replaced by the operator's API key. Rows run in file order, so the first of two equal
 * rows is the one accepted.
 */
export async function importCsv(
  deps: { sql: Sql; codec: ClickIdCodec; log: RequestLog },
  input: { csv: string; actor: string; advertiserId: string | null; filename: string | null },
): Promise<ImportSummary> {
  const { header, rows } = readCsv(input.csv);
  const { sql } = deps;
  if (input.advertiserId) {
    const [advertiser] = await sql`select id from advertisers where id = ${input.advertiserId}`;
    if (!advertiser)
      throw new HttpError(400, "invalid_request", "advertiser_id: no such advertiser", "advertiser_id");
  }
  const [created] = await sql<{ id: string }[]>`
    insert into imports (actor, advertiser_id, filename, row_count)
    values (${input.actor}, ${input.advertiserId}, ${input.filename}, ${rows.length})
    returning id`;
  const importId = (created as { id: string }).id;
  // Loaded once per file: the configuration as it is now, without the gateway's cache.
  const directory = await loadDirectory(sql);
  const intake = { sql, codec: deps.codec, directory: () => directory, log: deps.log };

  const results: RowResult[] = [];
  for (const { record, info } of rows) {
    const line = info.lines;
    if (record.length !== header.length) {
      results.push({
        row: line,
        status: 400,
        outcome: "invalid",
        reason: "invalid_row",
        receipt_id: null,
        duplicate: false,
        error: {
          code: "invalid_row",
          message: `the row has ${record.length} fields, the header has ${header.length}`,
        },
      });
      continue;
    }
    const raw: Record<string, unknown> = Object.create(null);
    for (const [i, name] of header.entries()) raw[name] = record[i];
    const d = await receive(intake, {
      channel: { kind: "import", importId, row: line, advertiserId: input.advertiserId },
      raw,
    });
    results.push(rowResult(line, d));
  }

  const accepted = results.filter((r) => r.outcome === "accepted").length;
  const duplicates = results.filter((r) => r.outcome === "duplicate").length;
  const rejected = results.length - accepted - duplicates;
  await sql`update imports set accepted = ${accepted}, duplicates = ${duplicates}, rejected = ${rejected} where id = ${importId}`;
  // Admin runs no outbox relay: wake the services' relays once for the whole file.
  if (accepted > 0) await sql`select pg_notify(${OUTBOX_CHANNEL}, '')`;
  return { import_id: importId, rows: results.length, accepted, duplicates, rejected, results };
}

function rowResult(row: number, d: Decision): RowResult {
  return {
    row,
    status: d.status,
    outcome: d.outcome,
    reason: d.reason,
    receipt_id: d.receiptId,
    duplicate: d.duplicate,
    ...(d.status >= 400 ? { error: (d.body as { error?: unknown }).error } : {}),
  };
}

/** The header and the data rows with their line numbers; a file that cannot be read is refused as a whole. */
function readCsv(csv: string): { header: string[]; rows: CsvRecord[] } {
  let records: CsvRecord[];
  try {
    records = parse(csv, {
      bom: true,
      info: true,
      skip_empty_lines: true,
      trim: true,
      relax_column_count: true,
      max_record_size: 64 * 1024,
    }) as unknown as CsvRecord[];
  } catch (err) {
    throw new HttpError(400, "invalid_csv", `the file is not valid CSV: ${(err as Error).message}`, "file");
  }
  const [first, ...rows] = records;
  if (!first) throw new HttpError(400, "invalid_csv", "the file is empty: a header row is required", "file");
  const header = first.record.map((h) => h.trim());
  if (header.length > 64) throw new HttpError(400, "invalid_csv", "at most 64 columns", "file");
  const seen = new Set<string>();
  for (const [i, name] of header.entries()) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
      throw new HttpError(
        400,
        "invalid_csv",
        `header column ${i + 1} is not a parameter name: ${JSON.stringify(name.slice(0, 40))}`,
        "file",
      );
    }
    if (seen.has(name))
      throw new HttpError(400, "invalid_csv", `header column ${name} appears twice`, "file");
    seen.add(name);
  }
  if (rows.length === 0) throw new HttpError(400, "invalid_csv", "the file has a header but no rows", "file");
  if (rows.length > MAX_IMPORT_ROWS) {
    throw new HttpError(
      400,
      "invalid_csv",
      `at most ${MAX_IMPORT_ROWS} rows per import; split the file`,
      "file",
    );
  }
  return { header, rows };
}
