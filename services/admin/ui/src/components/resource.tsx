import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { useApi } from "../use-api.ts";
import { api } from "../api.ts";
import { loadNames } from "../names.ts";
import { canWrite, type Me } from "../session.ts";
import { bodyOf, type Field, Form, type Values } from "./form.tsx";
import { type Column, DataTable, type FilterField, type Row } from "./table.tsx";
import { Card, Page, toast } from "./ui.tsx";

export type Editing<R> = { row: R } | null;

/**
 * A page for one API resource: its list (filters, search, sort, pages, CSV), a create form, an
 * edit form per row (PATCH with only the changed fields), pause/resume, and any actions of its
 * own. Writers see the forms; other roles the list.
 */
export function ResourcePage<R extends Row>(p: {
  me: Me;
  title: string;
  intro?: ComponentChildren;
  /** Singular, for buttons: "offer" → "New offer", "Create offer", "Save offer". */
  noun: string;
  path: string;
  columns: Column<R>[];
  filters?: FilterField[];
  initialFilters?: Record<string, string>;
  global?: { range?: boolean; brand?: boolean };
  params?: Record<string, string | undefined>;
  create?: {
    fields: Field[];
    initial?: Values;
    body?: (v: Values) => Values;
    created?: (row: R) => ComponentChildren;
  };
  /** `save` replaces the PATCH when an edit takes more than one request (an offer and its events). */
  edit?: {
    fields: Field[];
    initial: (row: R) => Values;
    body?: (v: Values, row: R) => Values;
    save?: (v: Values, row: R) => Promise<void>;
  };
  pause?: boolean;
  actions?: (row: R, reload: () => void, openEdit: () => void) => ComponentChildren;
  above?: ComponentChildren;
  csvName: string;
  serverCsv?: string;
  paged?: boolean;
  openId?: string | null;
  /** What the API searches and sorts itself (DataTable). */
  server?: { search?: boolean; sort?: string[] };
}) {
  const [version, setVersion] = useState(0);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<ComponentChildren>(null);
  const [editing, setEditing] = useState<R | null>(null);
  // `#/<page>?id=…` (a name's link, a "Needs attention" fix) opens that row's edit form.
  const base = p.path.split("?")[0];
  const openId = p.openId && p.edit && canWrite(p.me) ? p.openId : null;
  const opened = useApi<R>(openId ? `${base}/${openId}` : null);
  useEffect(() => {
    if (opened.data) setEditing(opened.data);
  }, [opened.data]);
  const writer = canWrite(p.me);
  const changed = async () => {
    setVersion((v) => v + 1);
    await loadNames(p.me);
  };
  return (
    <Page
      title={p.title}
      intro={p.intro}
      actions={
        writer && p.create ? (
          <button type="button" onClick={() => setCreating(!creating)} aria-expanded={creating}>
            New {p.noun}
          </button>
        ) : null
      }
    >
      {created ? (
        <Card class="notice" title={`${p.noun.charAt(0).toUpperCase()}${p.noun.slice(1)} created`}>
          {created}
          <button type="button" class="secondary" onClick={() => setCreated(null)}>
            Done
          </button>
        </Card>
      ) : null}
      {writer && p.create && creating ? (
        <Card title={`New ${p.noun}`}>
          <Form
            fields={p.create.fields}
            initial={p.create.initial}
            submit={`Create ${p.noun}`}
            onCancel={() => setCreating(false)}
            onSubmit={async (v) => {
              const body = p.create?.body ? p.create.body(v) : bodyOf(p.create?.fields ?? [], v);
              const row = await api<R>("POST", base ?? p.path, body);
              toast(`${p.noun} created`);
              setCreating(false);
              setCreated(p.create?.created ? p.create.created(row) : null);
              await changed();
            }}
          />
        </Card>
      ) : null}
      {writer && p.edit && editing ? (
        <Card title={`Edit ${p.noun} ${String(editing.name ?? editing.code ?? `#${editing.id}`)}`}>
          <Form
            key={String(editing.id)}
            fields={p.edit.fields}
            initial={p.edit.initial(editing)}
            submit={`Save ${p.noun}`}
            resetOnSuccess={false}
            onCancel={() => setEditing(null)}
            onSubmit={async (v) => {
              if (p.edit?.save) {
                await p.edit.save(v, editing);
                toast(`${p.noun} saved`);
                setEditing(null);
                await changed();
                return;
              }
              const before = p.edit?.initial(editing) ?? {};
              const body = p.edit?.body ? p.edit.body(v, editing) : bodyOf(p.edit?.fields ?? [], v, before);
              if (Object.keys(body).length === 0) {
                setEditing(null);
                return;
              }
              await api("PATCH", `${base}/${editing.id}`, body);
              toast(`${p.noun} saved`);
              setEditing(null);
              await changed();
            }}
          />
        </Card>
      ) : null}
      {p.above}
      <DataTable<R>
        path={p.path}
        caption={p.title}
        columns={p.columns}
        filters={p.filters}
        initialFilters={p.initialFilters}
        global={p.global}
        params={p.params}
        version={version}
        csvName={p.csvName}
        serverCsv={p.serverCsv}
        paged={p.paged}
        server={p.server}
        actions={
          writer && (p.edit || p.pause || p.actions)
            ? (row, reload) => (
                <>
                  {p.edit ? (
                    <button
                      type="button"
                      class="secondary"
                      onClick={() => setEditing(row)}
                      aria-label={`Edit ${p.noun} ${String(row.name ?? row.code ?? row.id)}`}
                    >
                      Edit
                    </button>
                  ) : null}
                  {p.pause && (row.status === "active" || row.status === "paused") ? (
                    <button
                      type="button"
                      class="secondary"
                      onClick={async () => {
                        const status = row.status === "active" ? "paused" : "active";
                        try {
                          await api("PATCH", `${base}/${row.id}`, { status });
                          toast(`${p.noun} ${status}`);
                          await changed();
                        } catch (err) {
                          toast((err as Error).message);
                        }
                      }}
                    >
                      {row.status === "active" ? "Pause" : "Resume"}
                    </button>
                  ) : null}
                  {p.actions?.(row, reload, () => setEditing(row))}
                </>
              )
            : p.actions
              ? (row, reload) => p.actions?.(row, reload, () => setEditing(row))
              : undefined
        }
      />
    </Page>
  );
}
