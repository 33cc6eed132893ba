import type { Tx } from "@roundtrip/db";
import { normaliseCidr } from "@roundtrip/intake";
import { HttpError } from "@roundtrip/service";
import { parse } from "csv-parse/sync";
import { MAX_ENTRIES } from "./model.ts";

/**
 * The ranges of an upload: a JSON `{"entries": [...]}` or a CSV whose first column holds an
 * address or CIDR range per row (a header row naming it `cidr`, `ip`, `range` or `network` is
 * skipped; `#` starts a comment line, as in the published lists). Each entry is read by the one
 * CIDR parser (ipaddr.js through @roundtrip/intake); the first bad one refuses the upload,
 * naming its line.
 */
export function readEntries(body: { entries: string[] } | { csv: string }): string[] {
  const raw: { text: string; where: string }[] = [];
  if ("entries" in body) {
    body.entries.forEach((text, i) => {
      raw.push({ text, where: `entries[${i}]` });
    });
  } else {
    let records: { record: string[]; info: { lines: number } }[];
    try {
      records = parse(body.csv, {
        bom: true,
        info: true,
        skip_empty_lines: true,
        trim: true,
        relax_column_count: true,
        comment: "#",
      }) as unknown as typeof records;
    } catch (err) {
      throw new HttpError(400, "invalid_csv", `the file is not valid CSV: ${(err as Error).message}`, "file");
    }
    for (const [i, { record, info }] of records.entries()) {
      const text = record[0] ?? "";
      if (i === 0 && /^(cidr|ip|range|network)$/i.test(text)) continue;
      raw.push({ text, where: `line ${info.lines}` });
    }
  }
  if (raw.length > MAX_ENTRIES)
    throw new HttpError(
      400,
      "invalid_request",
      `at most ${MAX_ENTRIES} entries per upload; append the rest`,
      "entries",
    );
  const out = new Set<string>();
  for (const { text, where } of raw) {
    try {
      out.add(normaliseCidr(text));
    } catch (err) {
      throw new HttpError(400, "invalid_request", `${where}: ${(err as Error).message}`, "entries");
    }
  }
  return [...out];
}

/** Replaces or extends a list's ranges in one statement; returns how many the list now holds. */
export async function storeEntries(
  tx: Tx,
  listId: string,
  entries: string[],
  mode: "replace" | "append",
): Promise<number> {
  if (mode === "replace") await tx`delete from ip_list_entries where list_id = ${listId}`;
  if (entries.length > 0)
    await tx`
      insert into ip_list_entries (list_id, range)
      select ${listId}, r::cidr from unnest(${entries}::text[]) as r
      on conflict do nothing`;
  await tx`update ip_lists set updated_at = now() where id = ${listId}`;
  const [row] = await tx<
    { n: number }[]
  >`select count(*)::int as n from ip_list_entries where list_id = ${listId}`;
  return row?.n ?? 0;
}
