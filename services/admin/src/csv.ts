import { stringify } from "csv-stringify/sync";

/** Cells as CSV text: dates in ISO 8601, nulls empty, everything else as its string. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function toCsv(columns: readonly string[], rows: readonly (readonly unknown[])[]): string {
  return stringify([columns as string[], ...rows.map((r) => r.map(cell))]);
}

/**
 * A CSV download streamed page by page, so an export never holds every row in memory. The first
 * page is read before the answer starts: a query that fails at once is an error answer, not a
 * 200 whose connection breaks midway.
 */
export async function csvStream(
  columns: readonly string[],
  pages: AsyncIterable<unknown[][]>,
  filename: string,
): Promise<Response> {
  const encoder = new TextEncoder();
  const iterator = pages[Symbol.asyncIterator]();
  const first = await iterator.next();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(stringify([columns as string[]])));
      if (first.done) controller.close();
      else controller.enqueue(encoder.encode(stringify(first.value.map((r) => r.map(cell)))));
    },
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(stringify(next.value.map((r) => r.map(cell)))));
    },
    async cancel() {
      await iterator.return?.();
    },
  });
  return new Response(body, { headers: csvHeaders(filename) });
}

export function csvResponse(
  columns: readonly string[],
  rows: readonly (readonly unknown[])[],
  filename: string,
): Response {
  return new Response(toCsv(columns, rows), { headers: csvHeaders(filename) });
}

function csvHeaders(filename: string): Record<string, string> {
  return {
    "content-type": "text/csv; charset=utf-8",
    "content-disposition": `attachment; filename="${filename}"`,
  };
}
