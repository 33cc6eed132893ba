import { stringify } from "csv-stringify/browser/esm/sync";
import type { ComponentChildren } from "preact";
import { useEffect, useId, useMemo, useState } from "preact/hooks";
import { api, download, type Paged, qs, saveBlob } from "../api.ts";
import { globalFilters, rangeQuery } from "../filters.ts";
import { label, text } from "../format.ts";
import { useStore } from "../store.ts";
import { useApi } from "../use-api.ts";
import { ErrorBox, Loading } from "./ui.tsx";

export type Row = Record<string, unknown>;
export type Column<R extends Row = Row> = {
  key: string;
  label?: string;
  /** What the cell shows; default the value as text. */
  render?: (row: R) => ComponentChildren;
  /** The plain value for sorting, searching and CSV; default the field. */
  value?: (row: R) => string | number | null | undefined;
  numeric?: boolean;
};
export type FilterField = {
  name: string;
  label: string;
  options?: { value: string; label: string }[];
  placeholder?: string;
};

const MAX_EXPORT_PAGES = 40;

/**
 * A list from a paged API: filters (sent to the API), search and sort, page size and keyset pages
 * (next/previous by cursor), CSV export of every page the filters select. `global` lists which of
 * the console's global filters this API takes. Where the API searches (`q`) and sorts (`sort`)
 * itself, `server` says so and the list asks it — over every page, and the export follows;
 * elsewhere search and sort apply to the page shown.
 */
export function DataTable<R extends Row>(p: {
  path: string;
  columns: Column<R>[];
  caption: string;
  filters?: FilterField[];
  initialFilters?: Record<string, string>;
  params?: Record<string, string | undefined>;
  global?: { range?: boolean; brand?: boolean };
  actions?: (row: R, reload: () => void) => ComponentChildren;
  rowClass?: (row: R) => string;
  /** A row's key when it has no `id` (default id, then click_id). */
  rowKey?: (row: R) => string;
  empty?: string;
  csvName: string;
  serverCsv?: string;
  paged?: boolean;
  /** false: the API pages by cursor but takes no `order` (newest first always). */
  ordered?: boolean;
  version?: number;
  /** Told the rows shown after each load (a page acting on them all, e.g. "select all"). */
  onRows?: (rows: R[]) => void;
  /** What the API does itself: `search` takes `q`; `sort` names the columns `sort` takes. */
  server?: { search?: boolean; sort?: string[] };
}) {
  const g = useStore(globalFilters);
  const uid = useId();
  const [filters, setFilters] = useState<Record<string, string>>(p.initialFilters ?? {});
  const [limit, setLimit] = useState(50);
  const [cursors, setCursors] = useState<string[]>([]);
  const [search, setSearch] = useState("");
  const [sort, setSort] = useState<{ key: string; dir: 1 | -1 } | null>(null);
  const paged = p.paged !== false;
  const serverSearch = p.server?.search === true;
  const serverSort = p.server?.sort;
  // The server is asked once typing pauses, not at every key.
  const [q, setQ] = useState("");
  useEffect(() => {
    const next = search.trim();
    if (!serverSearch || next === q) return;
    const t = setTimeout(() => {
      setCursors([]);
      setQ(next);
    }, 300);
    return () => clearTimeout(t);
  }, [search, serverSearch, q]);
  const sortQuery = serverSort && sort ? { sort: sort.key, order: sort.dir === 1 ? "asc" : "desc" } : {};
  const query: Record<string, string | undefined> = {
    ...(p.global?.range ? rangeQuery(g) : {}),
    ...(p.global?.brand && g.brandId ? { brand_id: g.brandId } : {}),
    ...p.params,
    ...filters,
    ...(serverSearch && q ? { q } : {}),
    ...sortQuery,
  };
  const cursor = cursors[cursors.length - 1];
  const sep = p.path.includes("?") ? "&" : "?";
  const listPath = `${p.path}${qs(paged ? { ...query, limit, cursor, order: p.ordered === false ? undefined : (query.order ?? "desc") } : query).replace(/^\?/, sep)}`;
  const { data, error, loading, reload } = useApi<Paged<R> | { data: R[] }>(listPath, p.version);
  const rows = useMemo(() => {
    const loaded = data?.data ?? [];
    const needle = serverSearch ? "" : search.trim().toLowerCase();
    const cellValue = (c: Column<R>, r: R) =>
      c.value ? c.value(r) : (r[c.key] as string | number | null | undefined);
    const found = needle
      ? loaded.filter((r) => p.columns.some((c) => text(cellValue(c, r)).toLowerCase().includes(needle)))
      : loaded;
    if (!sort || serverSort) return found;
    const col = p.columns.find((c) => c.key === sort.key);
    if (!col) return found;
    return [...found].sort((a, b) => {
      const x = cellValue(col, a);
      const y = cellValue(col, b);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      const nx = Number(x);
      const ny = Number(y);
      const cmp =
        col.numeric || (!Number.isNaN(nx) && !Number.isNaN(ny))
          ? nx - ny
          : String(x).localeCompare(String(y));
      return cmp * sort.dir;
    });
  }, [data, search, sort, p.columns, serverSearch, serverSort]);
  const next = data && "next_cursor" in data ? data.next_cursor : null;
  const onRows = p.onRows;
  useEffect(() => onRows?.(rows), [rows, onRows]);

  const setFilter = (name: string, value: string) => {
    setCursors([]);
    setFilters((f) => {
      const copy = { ...f };
      if (value) copy[name] = value;
      else delete copy[name];
      return copy;
    });
  };

  async function exportCsv() {
    if (p.serverCsv) return download(`${p.serverCsv}${qs(query)}`, `${p.csvName}.csv`);
    const all: R[] = [];
    let c: string | null | undefined;
    for (let i = 0; i < (paged ? MAX_EXPORT_PAGES : 1); i++) {
      const page = await api<Paged<R>>(
        "GET",
        `${p.path}${qs(paged ? { ...query, limit: 500, cursor: c ?? undefined, order: p.ordered === false ? undefined : (query.order ?? "desc") } : query).replace(/^\?/, sep)}`,
      );
      all.push(...page.data);
      c = page.next_cursor;
      if (!c) break;
    }
    const cols = p.columns.filter((col) => col.key !== "_actions");
    const csv = stringify([
      cols.map((col) => col.label ?? label(col.key)),
      ...all.map((r) => cols.map((col) => text(col.value ? col.value(r) : r[col.key]))),
    ]);
    saveBlob(new Blob([csv], { type: "text/csv" }), `${p.csvName}.csv`);
  }

  return (
    <div class="datatable">
      <fieldset class="toolbar">
        <legend class="sr-only">Filter {p.caption}</legend>
        {(p.filters ?? []).map((f) => (
          <div key={f.name} class="filter">
            <label for={`${uid}-${f.name}`}>{f.label}</label>
            {f.options ? (
              <select
                id={`${uid}-${f.name}`}
                value={filters[f.name] ?? ""}
                onChange={(e) => setFilter(f.name, e.currentTarget.value)}
              >
                <option value="">All</option>
                {f.options.map((o) => (
                  <option key={o.value} value={o.value}>
                    {o.label}
                  </option>
                ))}
              </select>
            ) : (
              <input
                id={`${uid}-${f.name}`}
                value={filters[f.name] ?? ""}
                placeholder={f.placeholder}
                onChange={(e) => setFilter(f.name, e.currentTarget.value.trim())}
              />
            )}
          </div>
        ))}
        <div class="filter">
          <label for={`${uid}-search`}>Search</label>
          <input
            id={`${uid}-search`}
            type="search"
            value={search}
            placeholder={serverSearch ? "every page…" : "this page…"}
            onInput={(e) => setSearch(e.currentTarget.value)}
          />
        </div>
        <button type="button" class="secondary" onClick={() => void exportCsv()}>
          Export CSV
        </button>
      </fieldset>
      <ErrorBox error={error} />
      <div class="table-wrap">
        <table>
          <caption class="sr-only">{p.caption}</caption>
          <thead>
            <tr>
              {p.columns.map((c) => {
                const dir = sort?.key === c.key ? sort.dir : 0;
                const sortable = c.key !== "_actions" && (!serverSort || serverSort.includes(c.key));
                return (
                  <th
                    key={c.key}
                    scope="col"
                    class={c.numeric ? "num" : ""}
                    aria-sort={dir === 1 ? "ascending" : dir === -1 ? "descending" : undefined}
                  >
                    {c.key === "_actions" ? (
                      <span class="sr-only">Actions</span>
                    ) : !sortable ? (
                      (c.label ?? label(c.key))
                    ) : (
                      <button
                        type="button"
                        class="sort"
                        onClick={() => {
                          if (serverSort) setCursors([]);
                          setSort(
                            dir === 1 ? { key: c.key, dir: -1 } : dir === -1 ? null : { key: c.key, dir: 1 },
                          );
                        }}
                      >
                        {c.label ?? label(c.key)}
                        <span aria-hidden="true">{dir === 1 ? " ▲" : dir === -1 ? " ▼" : ""}</span>
                      </button>
                    )}
                  </th>
                );
              })}
              {p.actions ? (
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              ) : null}
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={p.rowKey ? p.rowKey(r) : String(r.id ?? r.click_id ?? i)} class={p.rowClass?.(r)}>
                {p.columns.map((c) => (
                  <td key={c.key} data-label={c.label ?? label(c.key)} class={c.numeric ? "num" : ""}>
                    {/* One element per cell: at phone width a cell is a grid of (label, value). */}
                    {c.render ? <div class="cell">{c.render(r)}</div> : text(r[c.key])}
                  </td>
                ))}
                {p.actions ? <td class="actions">{p.actions(r, reload)}</td> : null}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {loading && !data ? <Loading /> : null}
      {data && rows.length === 0 ? (
        <p class="muted empty">
          {search
            ? serverSearch
              ? "Nothing matches."
              : "Nothing on this page matches."
            : (p.empty ?? "Nothing yet.")}
        </p>
      ) : null}
      {paged ? (
        <nav class="pager" aria-label={`${p.caption} pages`}>
          <button
            type="button"
            class="secondary"
            disabled={cursors.length === 0}
            onClick={() => setCursors((c) => c.slice(0, -1))}
          >
            Previous
          </button>
          <span>Page {cursors.length + 1}</span>
          <button
            type="button"
            class="secondary"
            disabled={!next}
            onClick={() => next && setCursors((c) => [...c, next])}
          >
            Next
          </button>
          <label class="filter inline">
            Rows{" "}
            <select
              value={String(limit)}
              onChange={(e) => {
                setCursors([]);
                setLimit(Number(e.currentTarget.value));
              }}
            >
              {[25, 50, 100, 200, 500].map((n) => (
                <option key={n}>{n}</option>
              ))}
            </select>
          </label>
        </nav>
      ) : null}
    </div>
  );
}
