import { kindField } from "./options.ts";
import { Head } from "../components/ui.tsx";
import { nameColumn, timeColumn, statusColumn } from "../components/columns.tsx";
import { stringify } from "csv-stringify/browser/esm/sync";
import { useEffect, useState } from "preact/hooks";
import { api, qs, saveBlob } from "../api.ts";
import { bodyOf, type Field, Form, type Values } from "../components/form.tsx";
import { DataTable, type Row } from "../components/table.tsx";
import { Badge, Card, ErrorBox, Facts, Loading, Name, Page, Time, toast } from "../components/ui.tsx";
import { globalFilters, rangeQuery } from "../filters.ts";
import { label, money, number, pct, text } from "../format.ts";
import { optionsOf, useNames } from "../names.ts";
import { go, href } from "../route.ts";
import { canWrite, isStaff } from "../session.ts";
import { useStore } from "../store.ts";
import { useApi } from "../use-api.ts";
import { opts } from "./options.ts";
import type { PageProps } from "./registry.ts";

/** The reports with a table here (reconciliation and the raw export have their own pages). */
const TITLES: Record<string, string> = {
  performance: "Performance",
  postbacks: "Postbacks received",
  deliveries: "Postbacks sent",
  "s2s-vs-pixel": "S2S vs pixel",
};
type Listed = { name: string; path: string; group_by?: string[] };
/** Dimensions an affiliate's performance report leaves out (docs/console.md). */
const STAFF_DIMENSIONS = new Set(["brand", "advertiser"]);

const MONEY = new Set(["amount", "payout", "revenue", "profit"]);
const RATES = new Set(["cr", "approval_rate", "success_rate", "duplicate_rate", "gap_share", "share"]);

/** A report cell as people read it: names for ids, money in its currency, rates as percentages. */
function cell(row: Row, key: string): string {
  const v = row[key];
  if (MONEY.has(key)) return money(v as string, row.currency as string);
  if (RATES.has(key)) return pct(v as number);
  if (typeof v === "number") return number(v);
  return text(v);
}

/** Columns of report rows: a dimension's name column replaces its id column. */
function columnsOf(rows: Row[]): string[] {
  const cols: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  return cols.filter(
    (c) =>
      !(c.endsWith("_name") && cols.includes(c.replace(/_name$/, "_id"))) &&
      !(c.endsWith("_id") && cols.includes(c.replace(/_id$/, "_name"))),
  );
}
const heading = (c: string) => label(c.replace(/_name$/, ""));

export function ReportsPage({ me, route }: PageProps) {
  const g = useStore(globalFilters);
  const staff = isStaff(me);
  const all = useNames();
  // Which reports this role may read and how each groups: GET /v1/reports/ says.
  const listed = useApi<{ reports: Listed[] }>("/v1/reports");
  const available = (listed.data?.reports ?? []).filter((r) => r.name in TITLES);
  const requested = route.params.get("report") ?? "performance";
  const current = available.find((r) => r.name === requested) ?? available[0];
  const report = current?.name ?? "performance";
  const [groupBy, setGroupBy] = useState<string[]>(["day"]);
  const [filters, setFilters] = useState<Record<string, string>>({});
  useEffect(() => setGroupBy(report === "s2s-vs-pixel" ? [] : ["day"]), [report]);
  const dims = (current?.group_by ?? []).filter((d) => staff || !STAFF_DIMENSIONS.has(d));
  const query = {
    ...rangeQuery(g),
    brand_id: staff ? g.brandId : undefined,
    group_by: groupBy.join(",") || undefined,
    ...filters,
  };
  const { data, error, loading } = useApi<{ rows: Row[]; totals?: Row[] }>(
    current ? `${current.path}${qs(query)}` : null,
  );
  const rows = data?.rows ?? [];
  const cols = columnsOf(rows);
  return (
    <Page title="Reports" intro={`${g.from} to ${g.to}; money is split by currency, test traffic excluded.`}>
      <div class="tabs" role="tablist" aria-label="Report">
        {available.map((r) => (
          <button
            key={r.name}
            type="button"
            role="tab"
            aria-selected={r.name === report}
            onClick={() => go("reports", { report: r.name })}
          >
            {TITLES[r.name]}
          </button>
        ))}
      </div>
      <fieldset class="toolbar">
        <legend class="sr-only">Report options</legend>
        {dims.length ? (
          <fieldset class="filter group-by">
            <legend>Group by</legend>
            <div class="chips">
              {dims.map((d) => (
                <label key={d} class="chip-check">
                  <input
                    type="checkbox"
                    checked={groupBy.includes(d)}
                    onChange={(e) =>
                      setGroupBy(e.currentTarget.checked ? [...groupBy, d] : groupBy.filter((x) => x !== d))
                    }
                  />{" "}
                  {label(d)}
                </label>
              ))}
            </div>
          </fieldset>
        ) : null}
        {report === "performance" || report === "deliveries" ? (
          <div class="filter">
            <label for="report-offer">Offer</label>
            <select
              id="report-offer"
              value={filters.offer_id ?? ""}
              onChange={(e) => setFilters({ ...filters, offer_id: e.currentTarget.value })}
            >
              <option value="">All</option>
              {optionsOf(all, "offer").map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </select>
          </div>
        ) : null}
        <button
          type="button"
          class="secondary"
          disabled={!rows.length}
          onClick={() =>
            saveBlob(
              new Blob([stringify([cols.map(heading), ...rows.map((r) => cols.map((c) => cell(r, c)))])], {
                type: "text/csv",
              }),
              `${report}-${g.from}-${g.to}.csv`,
            )
          }
        >
          Export CSV
        </button>
      </fieldset>
      <ErrorBox error={error} />
      {loading && !data ? <Loading /> : null}
      {data && !rows.length ? <p class="muted">No traffic in this range.</p> : null}
      {rows.length ? (
        <div class="datatable">
          <div class="table-wrap">
            <table id="report">
              <caption class="sr-only">{TITLES[report]}</caption>
              <thead>
                <tr>
                  {cols.map((c) => (
                    <th key={c} scope="col" class={MONEY.has(c) || RATES.has(c) ? "num" : ""}>
                      {heading(c)}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.map((r, i) => (
                  <tr key={i}>
                    {cols.map((c) => (
                      <td
                        key={c}
                        data-label={heading(c)}
                        class={MONEY.has(c) || RATES.has(c) || typeof r[c] === "number" ? "num" : ""}
                      >
                        {cell(r, c)}
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      ) : null}
      {data?.totals?.length ? (
        <Card title="Totals per currency">
          <ul id="report-totals">
            {data.totals.map((t) => (
              <li key={String(t.currency)}>
                {String(t.currency)}: {number(t.clicks as number)} clicks, {number(t.conversions as number)}{" "}
                conversions, payout {money(t.payout as string, t.currency as string)}
                {staff && t.revenue !== undefined
                  ? `, revenue ${money(t.revenue as string, t.currency as string)}`
                  : ""}
              </li>
            ))}
          </ul>
        </Card>
      ) : null}
    </Page>
  );
}

type ImportResult = {
  row: number;
  status: number;
  outcome: string;
  reason: string | null;
  receipt_id: string | null;
};

export function ImportsPage({ me, route }: PageProps) {
  const all = useNames();
  const [version, setVersion] = useState(0);
  const openId = route.params.get("id");
  const detail = useApi<Row & { results: ImportResult[] }>(openId ? `/v1/imports/${openId}` : null, version);
  const fields: Field[] = [
    kindField(all, "advertiser", "advertiser_id", "Advertiser", { required: true }),
    {
      name: "file",
      label: "CSV file (header: click_id, event, txid, amount, currency, status, timestamp)",
      type: "file",
      accept: ".csv,text/csv",
      required: true,
    },
  ];
  return (
    <Page
      title="Imports"
      intro="Conversions from a CSV file, each row through the same validation and dedup as a live postback, with one result per row."
    >
      {canWrite(me) ? (
        <Card title="Upload">
          <Form
            fields={fields}
            submit="Import"
            onSubmit={async (v) => {
              const form = new FormData();
              form.set("advertiser_id", String(v.advertiser_id));
              form.set("file", v.file as File);
              const r = await api<{ import_id: string; rows: number; accepted: number; rejected: number }>(
                "POST",
                "/v1/imports",
                form,
              );
              toast(`${r.rows} rows: ${r.accepted} accepted, ${r.rejected} rejected`);
              setVersion((x) => x + 1);
              go("imports", { id: r.import_id });
            }}
          />
        </Card>
      ) : null}
      {openId && detail.data ? (
        <Card title={`Import ${openId}: ${String(detail.data.filename ?? "")}`}>
          <p>
            {number(detail.data.row_count as number)} rows: {number(detail.data.accepted as number)} accepted,{" "}
            {number(detail.data.duplicates as number)} duplicates, {number(detail.data.rejected as number)}{" "}
            rejected
          </p>
          <div class="table-wrap">
            <table id="import-results">
              <caption class="sr-only">Row results</caption>
              <Head cols={["Row", "Outcome", "HTTP", "Reason"]} />
              <tbody>
                {detail.data.results.map((r) => (
                  <tr key={r.row}>
                    <td class="num">{r.row}</td>
                    <td>
                      <Badge value={r.outcome} />
                    </td>
                    <td class="num">{r.status}</td>
                    <td>{r.reason ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Card>
      ) : null}
      <DataTable
        path="/v1/imports"
        caption="Imports"
        csvName="imports"
        version={version}
        filters={[{ name: "advertiser_id", label: "Advertiser", options: optionsOf(all, "advertiser") }]}
        columns={[
          timeColumn("created_at", "When"),
          nameColumn(all, "advertiser", "advertiser_id", "Advertiser"),
          {
            key: "filename",
            label: "File",
            render: (r) => (
              <a href={href("imports", { id: String(r.id) })}>{String(r.filename ?? `import ${r.id}`)}</a>
            ),
          },
          { key: "row_count", label: "Rows", numeric: true },
          { key: "accepted", numeric: true },
          { key: "duplicates", numeric: true },
          { key: "rejected", numeric: true },
          { key: "actor", label: "By" },
        ]}
      />
    </Page>
  );
}

type Run = Row & { checks?: { name: string; title: string; status: string; detail: string }[] };

export function ValidationPage({ me, route }: PageProps) {
  const all = useNames();
  const openId = route.params.get("id");
  const [tick, setTick] = useState(0);
  const run = useApi<Run>(openId ? `/v1/validation-runs/${openId}` : null, tick);
  useEffect(() => {
    if (run.data?.status !== "running") return;
    const t = setTimeout(() => setTick((x) => x + 1), 1500);
    return () => clearTimeout(t);
  }, [run.data]);
  const fields: Field[] = [
    { name: "offer_id", label: "Offer", type: "select", required: true, options: optionsOf(all, "offer") },
    {
      name: "token",
      label: "Advertiser token",
      type: "password",
      required: true,
      help: "used for the test postbacks and kept nowhere",
    },
    { name: "affiliates", label: "Test affiliates", type: "number", min: 3, max: 5 },
    { name: "landing_click_id_param", label: "Landing page's click ID parameter" },
  ];
  return (
    <Page
      title="Launch validation"
      intro="Runs the pre-launch protocol against the live stack: test clicks, registrations and deposits, duplicates, a forged click ID, a bad token. Passes only when every check does and ≥ 98 % of test postbacks were tracked."
    >
      {canWrite(me) ? (
        <Card title="Start a run">
          <Form
            fields={fields}
            initial={{ affiliates: "3" }}
            submit="Start validation"
            onSubmit={async (v: Values) => {
              const r = await api<{ id: string }>("POST", "/v1/validation-runs", bodyOf(fields, v));
              go("validation", { id: r.id });
            }}
          />
        </Card>
      ) : null}
      {openId && run.data ? (
        <Card title={`Run ${openId}`}>
          <p>
            <Badge value={run.data.status as string} />{" "}
            {run.data.error ? <span class="error">{String(run.data.error)}</span> : null}
          </p>
          <ul id="run">
            {(run.data.checks ?? []).map((c, i) => (
              <li key={`${c.name}${i}`}>
                <Badge value={c.status === "pass" ? "passed" : c.status === "fail" ? "failed" : c.status} />{" "}
                <strong>{c.title}</strong>: {c.detail}
              </li>
            ))}
          </ul>
        </Card>
      ) : null}
      <DataTable
        path="/v1/validation-runs"
        caption="Validation runs"
        csvName="validation-runs"
        filters={[
          { name: "offer_id", label: "Offer", options: optionsOf(all, "offer") },
          { name: "status", label: "Status", options: opts("running", "passed", "failed", "error") },
        ]}
        columns={[
          {
            key: "created_at",
            label: "Started",
            render: (r) => (
              <a href={href("validation", { id: String(r.id) })}>
                <Time at={r.created_at as string} />
              </a>
            ),
          },
          nameColumn(all, "offer", "offer_id", "Offer"),
          statusColumn(),
          {
            key: "postbacks_ok",
            label: "Postbacks tracked",
            numeric: true,
            render: (r) => `${number(r.postbacks_ok as number)} / ${number(r.postbacks_sent as number)}`,
          },
        ]}
      />
    </Page>
  );
}

type Reconciliation = { summary?: Record<string, number>; findings?: Row[]; [k: string]: unknown };

export function ReconciliationPage() {
  const all = useNames();
  const [result, setResult] = useState<Reconciliation | null>(null);
  const fields: Field[] = [
    kindField(all, "advertiser", "advertiser_id", "Advertiser", { required: true }),
    { name: "file", label: "The advertiser's CSV", type: "file", accept: ".csv,text/csv", required: true },
    { name: "txid_column", label: "Txid column", placeholder: "txid" },
    { name: "amount_column", label: "Amount column", placeholder: "amount" },
    { name: "status_column", label: "Status column", placeholder: "status" },
    { name: "currency_column", label: "Currency column", placeholder: "currency" },
  ];
  return (
    <Page
      title="Reconciliation"
      intro="Compare the advertiser's own export with what we booked: matched, missing on either side, amount/status/currency differences."
    >
      <Card title="Compare">
        <Form
          fields={fields}
          submit="Reconcile"
          resetOnSuccess={false}
          onSubmit={async (v) => {
            const form = new FormData();
            for (const [k, x] of Object.entries(v))
              if (x !== undefined && x !== "" && x !== null) form.set(k, x instanceof File ? x : String(x));
            setResult(await api<Reconciliation>("POST", "/v1/reports/reconciliation", form));
          }}
        />
      </Card>
      {result ? (
        <Card title="Result">
          <Facts
            items={Object.entries(result)
              .filter(([, v]) => typeof v === "number" || typeof v === "string")
              .map(([k, v]) => [label(k), text(v)])}
          />
          {Object.entries(result)
            .filter(([, v]) => Array.isArray(v) && v.length)
            .map(([k, v]) => (
              <div key={k}>
                <h3>{label(k)}</h3>
                <ul>
                  {(v as Row[]).slice(0, 200).map((f, i) => (
                    <li key={i}>{text(f)}</li>
                  ))}
                </ul>
              </div>
            ))}
        </Card>
      ) : null}
    </Page>
  );
}

export function AuditLogPage() {
  return (
    <Page title="Audit log" intro="Every change: who, when, and what changed.">
      <DataTable
        path="/v1/audit-log"
        server={{ search: true, sort: ["at", "actor", "action", "resource"] }}
        caption="Audit log"
        csvName="audit-log"
        global={{ range: true }}
        filters={[
          { name: "resource", label: "Resource" },
          { name: "action", label: "Action" },
          { name: "actor", label: "Actor" },
        ]}
        columns={[
          { key: "at", label: "When", render: (r) => <Time at={(r.at ?? r.created_at) as string} /> },
          { key: "actor" },
          { key: "action" },
          {
            key: "resource",
            render: (r) => `${String(r.resource)}${r.resource_id ? ` ${r.resource_id}` : ""}`,
          },
          {
            key: "change",
            render: (r) => <Diff before={r.before as Row | null} after={r.after as Row | null} />,
            value: (r) => text(r.after),
          },
        ]}
      />
    </Page>
  );
}

/** What an audited change changed, field by field (not two JSON blobs). */
function Diff(p: { before: Row | null; after: Row | null }) {
  const keys = [...new Set([...Object.keys(p.before ?? {}), ...Object.keys(p.after ?? {})])].filter(
    (k) => JSON.stringify(p.before?.[k]) !== JSON.stringify(p.after?.[k]) && k !== "updated_at",
  );
  if (!keys.length) return <span class="muted">no field changed</span>;
  return (
    <ul class="diff">
      {keys.slice(0, 12).map((k) => (
        <li key={k}>
          <strong>{label(k)}</strong>: {p.before && k in p.before ? `${text(p.before[k]) || "empty"} → ` : ""}
          {text(p.after?.[k]) || "empty"}
        </li>
      ))}
    </ul>
  );
}

export function ApiKeysPage() {
  const all = useNames();
  const [version, setVersion] = useState(0);
  const [created, setCreated] = useState<string | null>(null);
  const fields: Field[] = [
    { name: "name", label: "Name", required: true },
    {
      name: "role",
      label: "Role",
      type: "select",
      required: true,
      options: opts("admin", "manager", "analyst", "affiliate"),
    },
    {
      name: "affiliate_id",
      label: "Affiliate",
      type: "select",
      options: optionsOf(all, "affiliate"),
      when: (v) => v.role === "affiliate",
    },
  ];
  return (
    <Page
      title="API keys"
      intro="Keys are for machines (people sign in with accounts). A key is shown once; only its hash is kept."
    >
      {created ? (
        <Card class="notice" title="New key (shown once)">
          <code>{created}</code>
          <button type="button" class="secondary" onClick={() => setCreated(null)}>
            Done
          </button>
        </Card>
      ) : null}
      <details class="card">
        <summary>Create a key</summary>
        <Form
          fields={fields}
          initial={{ role: "analyst" }}
          submit="Create key"
          onSubmit={async (v) => {
            const r = await api<{ key: string }>("POST", "/v1/api-keys", bodyOf(fields, v));
            setCreated(r.key);
            setVersion((x) => x + 1);
          }}
        />
      </details>
      <DataTable
        path="/v1/api-keys"
        caption="API keys"
        csvName="api-keys"
        version={version}
        filters={[{ name: "role", label: "Role", options: opts("admin", "manager", "analyst", "affiliate") }]}
        columns={[
          { key: "name" },
          { key: "role" },
          {
            key: "affiliate_id",
            label: "Affiliate",
            render: (r) =>
              r.affiliate_id ? <Name kind="affiliate" id={r.affiliate_id as string} link={false} /> : "",
          },
          {
            key: "key_prefix",
            label: "Starts with",
            render: (r) => <code>{String(r.key_prefix ?? "")}…</code>,
          },
          {
            key: "last_used_at",
            label: "Last used",
            render: (r) => (r.last_used_at ? <Time at={r.last_used_at as string} /> : "never"),
          },
          {
            key: "revoked_at",
            label: "Revoked",
            render: (r) => (r.revoked_at ? <Time at={r.revoked_at as string} /> : ""),
          },
        ]}
        actions={(r, reload) =>
          r.revoked_at ? null : (
            <button
              type="button"
              class="secondary"
              onClick={async () => {
                try {
                  await api("DELETE", `/v1/api-keys/${r.id}`);
                  toast("key revoked");
                  reload();
                } catch (err) {
                  toast((err as Error).message);
                }
              }}
            >
              Revoke
            </button>
          )
        }
      />
    </Page>
  );
}

/** Where the "Needs attention" panel sends an operator for what the console cannot fix itself. */
export function AttentionHelpPage({ route }: PageProps) {
  const topic = route.params.get("topic");
  return (
    <Page title={topic === "dead-letters" ? "Dead-lettered events" : "Owed events"}>
      {topic === "dead-letters" ? (
        <Card>
          <p>
            A consumer gave up on these events after its retries (a message it could not handle). They stay
            owed and are not re-published until replayed.
          </p>
          <p>
            Find the cause in the consumer's logs (<code>dead-lettered</code>), fix it, then replay the
            stream's dead letters as described in <code>docs/operations.md</code>. A replay clears the
            parking.
          </p>
        </Card>
      ) : (
        <Card>
          <p>
            Events written to the outbox more than five minutes ago that a consumer has not confirmed yet.
          </p>
          <p>
            Check NATS (<code>/readyz</code> of each service), the consumers' lag on the pipeline dashboard (
            <code>roundtrip_outbox_owed_messages</code>) and their logs. The reconciler re-publishes owed
            events by itself once the broker is back.
          </p>
        </Card>
      )}
    </Page>
  );
}
