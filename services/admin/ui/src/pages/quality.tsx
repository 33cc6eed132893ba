import { useState } from "preact/hooks";
import { api, qs } from "../api.ts";
import { nameColumn, timeColumn } from "../components/columns.tsx";
import { bodyOf, type Field, Form, type Values } from "../components/form.tsx";
import { DataTable, type Row } from "../components/table.tsx";
import { Badge, Card, ErrorBox, Facts, Head, Loading, Money, Name, Page, toast } from "../components/ui.tsx";
import { globalFilters, rangeQuery } from "../filters.ts";
import { number } from "../format.ts";
import { optionsOf, useNames } from "../names.ts";
import { href } from "../route.ts";
import { canWrite } from "../session.ts";
import { useStore } from "../store.ts";
import { useApi } from "../use-api.ts";
import { opts } from "./options.ts";
import type { PageProps } from "./registry.ts";
import { CLICK_REASONS } from "./traffic.tsx";

/** GET /v1/traffic-rules/defaults: every rule, named by its reason code (docs/fraud.md). */
type RuleDefault = {
  reason: string;
  action: string;
  threshold: number | null;
  enabled: boolean;
  threshold_unit: "seconds" | "clicks_per_minute" | "hours" | null;
};
type Rule = Row & {
  id: string;
  offer_id: string | null;
  reason: string;
  event: string | null;
  threshold: number | null;
  action: string;
  enabled: boolean;
};

const UNIT_WORDS: Record<string, string> = {
  seconds: "seconds",
  clicks_per_minute: "clicks a minute",
  hours: "hours",
};
const ACTIONS = opts("flag", "hold", "reject");
const ACTION_WORDS: Record<string, string> = {
  flag: "flag (paid, marked)",
  hold: "hold (pending until reviewed)",
  reject: "reject (no commission)",
};

function threshold(value: number | null | undefined, unit: string | null | undefined): string {
  if (!unit) return "fires on the fact";
  if (value === null || value === undefined) return "off (no threshold)";
  return `${number(value)} ${UNIT_WORDS[unit] ?? unit}`;
}

/**
 * Traffic-quality rules (issue 13, docs/fraud.md): the built-in default of each, the
 * program-wide rule that replaces it, and rules per offer; writers set (PUT) and remove them.
 */
export function TrafficRulesPage({ me }: PageProps) {
  const all = useNames();
  const writer = canWrite(me);
  const [version, setVersion] = useState(0);
  const [editing, setEditing] = useState<Values | null>(null);
  const defaults = useApi<{ data: RuleDefault[] }>("/v1/traffic-rules/defaults");
  const configured = useApi<{ data: Rule[] }>("/v1/traffic-rules?limit=500", version);
  const unitOf = (reason: unknown) => defaults.data?.data.find((d) => d.reason === reason)?.threshold_unit;
  const fields: Field[] = [
    {
      name: "offer_id",
      label: "Offer",
      type: "select",
      options: optionsOf(all, "offer"),
      empty: "Program-wide (every offer)",
    },
    {
      name: "reason",
      label: "Rule",
      type: "select",
      required: true,
      options: opts(...(defaults.data?.data ?? []).map((d) => d.reason)),
    },
    {
      name: "event",
      label: "Event",
      help: "CTIT rules only: the event it applies to (empty: every event)",
      when: (v) => String(v.reason ?? "").startsWith("ctit_"),
    },
    {
      name: "threshold",
      label: "Threshold",
      type: "number",
      min: 1,
      help: "empty turns the rule off",
      when: (v) => Boolean(unitOf(v.reason)),
    },
    { name: "action", label: "Action", type: "select", required: true, options: ACTIONS },
    { name: "enabled", label: "Enabled", type: "checkbox" },
  ];
  const save = async (v: Values) => {
    const body = bodyOf(fields, v);
    await api("PUT", "/v1/traffic-rules", {
      ...body,
      offer_id: body.offer_id ?? null,
      threshold: unitOf(v.reason) ? (body.threshold ?? null) : undefined,
      enabled: v.enabled === true,
    });
    toast("rule saved; it applies to traffic judged from now on");
    setEditing(null);
    setVersion((x) => x + 1);
  };
  const programWide = new Map(
    (configured.data?.data ?? []).filter((r) => r.offer_id === null && !r.event).map((r) => [r.reason, r]),
  );
  const edit = (r: Partial<Rule> & { reason: string }) =>
    setEditing({
      offer_id: r.offer_id ?? "",
      reason: r.reason,
      event: r.event ?? "",
      threshold: r.threshold ?? "",
      action: r.action ?? "flag",
      enabled: r.enabled ?? true,
    });
  return (
    <Page
      title="Traffic rules"
      intro="Each rule records its reason code on the click or conversion it fires on, and flags, holds or rejects the conversion. A rule set for an offer replaces the program-wide one, which replaces the built-in default."
      actions={
        writer ? (
          <button
            type="button"
            onClick={() => setEditing(editing ? null : { action: "flag", enabled: true })}
          >
            Set a rule
          </button>
        ) : null
      }
    >
      {writer && editing ? (
        <Card title="Set a rule">
          <Form
            id="traffic-rule"
            key={JSON.stringify(editing)}
            fields={fields}
            initial={editing}
            submit="Save rule"
            onCancel={() => setEditing(null)}
            onSubmit={save}
          />
        </Card>
      ) : null}
      <Card title="Program-wide">
        <ErrorBox error={defaults.error ?? configured.error} />
        {!defaults.data ? (
          <Loading />
        ) : (
          <div class="table-wrap datatable">
            <table id="rule-defaults">
              <caption class="sr-only">Program-wide rules and built-in defaults</caption>
              <Head
                cols={["Rule", "Threshold", "Action", "Enabled", "Set by", ...(writer ? ["Actions"] : [])]}
              />
              <tbody>
                {defaults.data.data.map((d) => {
                  const r = programWide.get(d.reason);
                  const now = r ?? d;
                  return (
                    <tr key={d.reason}>
                      <td data-label="Rule">
                        <code>{d.reason}</code>
                      </td>
                      <td data-label="Threshold">{threshold(now.threshold, d.threshold_unit)}</td>
                      <td data-label="Action">
                        {/* one child: at phone width a cell is a two-column grid (label, value) */}
                        <span>
                          <Badge value={now.action} />{" "}
                          <span class="muted">{ACTION_WORDS[now.action] ?? ""}</span>
                        </span>
                      </td>
                      <td data-label="Enabled">{now.enabled ? "yes" : "no"}</td>
                      <td data-label="Set by">{r ? "program-wide rule" : "built-in default"}</td>
                      {writer ? (
                        <td class="actions">
                          <button
                            type="button"
                            class="secondary"
                            aria-label={`Edit rule ${d.reason}`}
                            onClick={() => edit(r ?? { ...d, offer_id: null, event: null })}
                          >
                            Edit
                          </button>
                        </td>
                      ) : null}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      <h2>Configured rules</h2>
      <DataTable<Rule>
        path="/v1/traffic-rules"
        caption="Configured traffic rules"
        csvName="traffic-rules"
        version={version}
        filters={[
          { name: "offer_id", label: "Offer", options: optionsOf(all, "offer") },
          {
            name: "reason",
            label: "Rule",
            options: opts(...(defaults.data?.data ?? []).map((d) => d.reason)),
          },
        ]}
        empty="No rule configured: the built-in defaults apply."
        columns={[
          {
            key: "offer_id",
            label: "Scope",
            render: (r) => (r.offer_id ? <Name kind="offer" id={r.offer_id} /> : "program-wide"),
            value: (r) => (r.offer_id ? (all.offer.get(r.offer_id)?.name ?? r.offer_id) : "program-wide"),
          },
          { key: "reason", label: "Rule", render: (r) => <code>{r.reason}</code> },
          { key: "event", render: (r) => r.event ?? "every event", value: (r) => r.event ?? "" },
          {
            key: "threshold",
            render: (r) => threshold(r.threshold, unitOf(r.reason)),
            value: (r) => r.threshold,
          },
          { key: "action", render: (r) => <Badge value={r.action} /> },
          { key: "enabled", render: (r) => (r.enabled ? "yes" : "no"), value: (r) => String(r.enabled) },
          timeColumn("updated_at", "Changed"),
        ]}
        actions={
          writer
            ? (r, reload) => (
                <>
                  <button
                    type="button"
                    class="secondary"
                    aria-label={`Edit rule ${r.reason} ${r.offer_id ?? "program-wide"}`}
                    onClick={() => edit(r)}
                  >
                    Edit
                  </button>
                  <button
                    type="button"
                    class="secondary"
                    onClick={async () => {
                      try {
                        await api("DELETE", `/v1/traffic-rules/${r.id}`);
                        toast("rule removed: its scope falls back to the next");
                        setVersion((x) => x + 1);
                        reload();
                      } catch (err) {
                        toast((err as Error).message);
                      }
                    }}
                  >
                    Remove
                  </button>
                </>
              )
            : undefined
        }
      />
    </Page>
  );
}

type IpList = Row & { id: string; name: string; kind: string; source: string | null };
type IpListDetail = IpList & { entry_count: number; entries: string[] };

function Ranges(p: { id: string; version: number; onClose: () => void }) {
  const { data, error } = useApi<IpListDetail>(`/v1/ip-lists/${p.id}`, p.version);
  return (
    <Card title={data ? `${data.name}: ranges` : "Ranges"}>
      <ErrorBox error={error} />
      {data ? (
        <>
          <Facts items={[["Ranges", number(data.entry_count)]]} />
          {data.entries.length ? (
            <pre class="ranges">{data.entries.join("\n")}</pre>
          ) : (
            <p class="muted">No ranges yet: upload a CSV.</p>
          )}
          {data.entry_count > data.entries.length ? (
            <p class="muted">The first {number(data.entries.length)} are shown.</p>
          ) : null}
        </>
      ) : null}
      <button type="button" class="secondary" onClick={p.onClose}>
        Close
      </button>
    </Card>
  );
}

/**
 * Operator-managed address lists (datacenter, vpn, tor, block, allow): create one, upload its
 * ranges as a CSV (first column an address or CIDR; replace or append), see them, delete it.
 */
export function IpListsPage({ me }: PageProps) {
  const writer = canWrite(me);
  const [version, setVersion] = useState(0);
  const [creating, setCreating] = useState(false);
  const [upload, setUpload] = useState<IpList | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const create: Field[] = [
    { name: "name", label: "Name", required: true },
    {
      name: "kind",
      label: "Kind",
      type: "select",
      required: true,
      options: opts("datacenter", "vpn", "tor", "block", "allow"),
    },
    { name: "source", label: "Source", help: "where the ranges come from (a URL or a note)" },
  ];
  const uploadFields: Field[] = [
    { name: "file", label: "CSV file", type: "file", accept: ".csv,.txt,text/csv", required: true },
    {
      name: "mode",
      label: "Mode",
      type: "select",
      required: true,
      options: [
        { value: "replace", label: "replace: the list becomes this file" },
        { value: "append", label: "append: add to the list" },
      ],
    },
  ];
  const changed = () => setVersion((x) => x + 1);
  return (
    <Page
      title="IP lists"
      intro="Address lists the traffic rules check clicks and conversions against: datacenter, VPN/proxy and TOR ranges are flagged by their rule, block ranges rejected, allow ranges exempt from every IP rule."
      actions={
        writer ? (
          <button type="button" onClick={() => setCreating(!creating)} aria-expanded={creating}>
            New IP list
          </button>
        ) : null
      }
    >
      {writer && creating ? (
        <Card title="New IP list">
          <Form
            id="ip-list"
            fields={create}
            initial={{ kind: "datacenter" }}
            submit="Create IP list"
            onCancel={() => setCreating(false)}
            onSubmit={async (v) => {
              await api("POST", "/v1/ip-lists", bodyOf(create, v));
              toast("IP list created: upload its ranges");
              setCreating(false);
              changed();
            }}
          />
        </Card>
      ) : null}
      {writer && upload ? (
        <Card title={`Upload ranges to ${upload.name}`}>
          <p class="muted">
            One address or CIDR range a line (the first column of a CSV); lines starting with # are skipped.
          </p>
          <Form
            id="ip-upload"
            fields={uploadFields}
            initial={{ mode: "replace" }}
            submit="Upload"
            onCancel={() => setUpload(null)}
            onSubmit={async (v) => {
              const file = v.file as File | null;
              if (!file) throw new Error("Choose a CSV file.");
              const r = await api<{ uploaded: number; entry_count: number }>(
                "PUT",
                `/v1/ip-lists/${upload.id}/entries${qs({ mode: String(v.mode ?? "replace") })}`,
                new Blob([await file.text()], { type: "text/csv" }),
              );
              toast(`${number(r.uploaded)} uploaded; the list has ${number(r.entry_count)} ranges`);
              setOpen(upload.id);
              setUpload(null);
              changed();
            }}
          />
        </Card>
      ) : null}
      {open ? <Ranges id={open} version={version} onClose={() => setOpen(null)} /> : null}
      <DataTable<IpList>
        path="/v1/ip-lists"
        caption="IP lists"
        csvName="ip-lists"
        version={version}
        empty="No IP list yet."
        columns={[
          { key: "name" },
          { key: "kind", render: (r) => <Badge value={r.kind} /> },
          { key: "source", render: (r) => r.source ?? "", value: (r) => r.source ?? "" },
          timeColumn("updated_at", "Changed"),
        ]}
        actions={(r, reload) => (
          <>
            <button
              type="button"
              class="secondary"
              onClick={() => setOpen(r.id)}
              aria-label={`Ranges of ${r.name}`}
            >
              Ranges
            </button>
            {writer ? (
              <>
                <button
                  type="button"
                  class="secondary"
                  onClick={() => setUpload(r)}
                  aria-label={`Upload CSV to ${r.name}`}
                >
                  Upload CSV
                </button>
                <button
                  type="button"
                  class="secondary"
                  onClick={async () => {
                    if (!confirm(`Delete the IP list ${r.name} and its ranges?`)) return;
                    try {
                      await api("DELETE", `/v1/ip-lists/${r.id}`);
                      toast("IP list deleted");
                      if (open === r.id) setOpen(null);
                      reload();
                    } catch (err) {
                      toast((err as Error).message);
                    }
                  }}
                >
                  Delete
                </button>
              </>
            ) : null}
          </>
        )}
      />
    </Page>
  );
}

type Review = Row & {
  conversion_id: string;
  state: string;
  reasons: string[];
  status: string;
  event: string;
  offer_id: string;
  affiliate_id: string;
  amount: string | null;
  currency: string;
  rules: { reason: string; action: string; measured: Record<string, unknown> | null }[];
  reject_reason: string | null;
  decided_by: string | null;
};
type Decided = { results: { conversion_id: string; result: string }[] };

const measured = (m: Record<string, unknown> | null) =>
  m
    ? Object.entries(m)
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => `${k.replaceAll("_", " ")} ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
        .join(", ")
    : "";

/**
 * The review queue: conversions a rule held (pending until decided) or flagged (paid, to look
 * at). Writers select rows and approve or reject them in bulk, with the reason the affiliate's
 * postback names in {reject_reason}; each decision is audited.
 */
export function ReviewsPage({ me, route }: PageProps) {
  const all = useNames();
  const writer = canWrite(me);
  const [version, setVersion] = useState(0);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [shown, setShown] = useState<Review[]>([]);
  const open = shown.filter((r) => r.state === "held" || r.state === "flagged").map((r) => r.conversion_id);
  const initial: Record<string, string> = {};
  for (const k of ["state", "reason", "offer_id", "affiliate_id"]) {
    const v = route.params.get(k);
    if (v) initial[k] = v;
  }
  const toggle = (id: string) =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const decide = async (decision: "approve" | "reject") => {
    setBusy(true);
    try {
      const r = await api<Decided>("POST", "/v1/reviews/decisions", {
        conversion_ids: [...selected],
        decision,
        ...(decision === "reject" && reason ? { reject_reason: reason } : {}),
      });
      const counts = new Map<string, number>();
      for (const x of r.results) counts.set(x.result, (counts.get(x.result) ?? 0) + 1);
      toast([...counts].map(([k, n]) => `${n} ${k.replaceAll("_", " ")}`).join(", "));
      setSelected(new Set());
      setVersion((x) => x + 1);
    } catch (err) {
      toast((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const reasons = [...CLICK_REASONS, "ctit_too_fast", "ctit_too_slow", "same_device", "self_referral"];
  return (
    <Page
      title="Review queue"
      intro="Conversions a traffic rule held (kept pending until someone decides) or flagged (paid, marked for a look). Approve or reject them in bulk; a rejection reaches the affiliate's postback with its reason."
    >
      {writer ? (
        <fieldset class="toolbar bulk" id="review-bulk">
          <legend class="sr-only">Decide the selected conversions</legend>
          <span>{number(selected.size)} selected</span>
          <button
            type="button"
            class="secondary"
            disabled={open.length === 0}
            onClick={() =>
              setSelected(open.every((id) => selected.has(id)) ? new Set() : new Set([...selected, ...open]))
            }
          >
            {open.length > 0 && open.every((id) => selected.has(id)) ? "Clear selection" : "Select all shown"}
          </button>
          <div class="filter">
            <label for="reject-reason">Reject reason</label>
            <select id="reject-reason" value={reason} onChange={(e) => setReason(e.currentTarget.value)}>
              <option value="">the first rule that fired</option>
              {reasons.map((r) => (
                <option key={r} value={r}>
                  {r.replaceAll("_", " ")}
                </option>
              ))}
            </select>
          </div>
          <button type="button" disabled={busy || selected.size === 0} onClick={() => void decide("approve")}>
            Approve selected
          </button>
          <button
            type="button"
            class="danger"
            disabled={busy || selected.size === 0}
            onClick={() => void decide("reject")}
          >
            Reject selected
          </button>
        </fieldset>
      ) : null}
      <DataTable<Review>
        path="/v1/reviews"
        caption="Conversions under review"
        csvName="reviews"
        ordered={false}
        rowKey={(r) => r.conversion_id}
        onRows={setShown}
        version={version}
        initialFilters={initial}
        empty="Nothing to review."
        filters={[
          { name: "state", label: "State", options: opts("open", "held", "flagged", "approved", "rejected") },
          { name: "reason", label: "Rule", options: opts(...reasons) },
          { name: "offer_id", label: "Offer", options: optionsOf(all, "offer") },
          { name: "affiliate_id", label: "Affiliate", options: optionsOf(all, "affiliate") },
        ]}
        columns={[
          ...(writer
            ? [
                {
                  key: "_select",
                  label: "Select",
                  render: (r: Review) =>
                    r.state === "held" || r.state === "flagged" ? (
                      <input
                        type="checkbox"
                        aria-label={`Select conversion ${r.conversion_id}`}
                        checked={selected.has(r.conversion_id)}
                        onChange={() => toggle(r.conversion_id)}
                      />
                    ) : null,
                  value: () => "",
                },
              ]
            : []),
          {
            key: "conversion_id",
            label: "Conversion",
            render: (r) => <a href={href("trace", { conversion_id: r.conversion_id })}>#{r.conversion_id}</a>,
          },
          timeColumn("occurred_at", "When"),
          nameColumn(all, "offer", "offer_id", "Offer"),
          nameColumn(all, "affiliate", "affiliate_id", "Affiliate"),
          { key: "event" },
          {
            key: "amount",
            numeric: true,
            render: (r) => (r.amount === null ? "" : <Money amount={r.amount} currency={r.currency} />),
          },
          { key: "state", render: (r) => <Badge value={r.state} /> },
          {
            key: "rules",
            label: "Rules that fired",
            render: (r) => (
              <ul class="plain">
                {(r.rules ?? []).map((x) => (
                  <li key={x.reason}>
                    <code>{x.reason}</code> → {x.action}
                    {measured(x.measured) ? <span class="muted"> ({measured(x.measured)})</span> : null}
                  </li>
                ))}
              </ul>
            ),
            value: (r) => (r.rules ?? []).map((x) => `${x.reason}:${x.action}`).join(" "),
          },
          {
            key: "decided_by",
            label: "Decided",
            render: (r) =>
              r.decided_by ? `${r.decided_by}${r.reject_reason ? ` (${r.reject_reason})` : ""}` : "",
            value: (r) => r.decided_by ?? "",
          },
        ]}
      />
    </Page>
  );
}

type QualityReport = {
  from: string;
  to: string;
  clicks: { reason: string; clicks: number }[];
  conversions: { reason: string; action: string; conversions: number; rejected: number; held: number }[];
};

/** GET /v1/reports/traffic-quality over the global date range (at most 31 days). */
export function TrafficQualityPage() {
  const all = useNames();
  const g = useStore(globalFilters);
  const [filters, setFilters] = useState<Record<string, string>>({});
  const fields: Field[] = [
    { name: "offer_id", label: "Offer", type: "select", options: optionsOf(all, "offer"), empty: "All" },
    {
      name: "affiliate_id",
      label: "Affiliate",
      type: "select",
      options: optionsOf(all, "affiliate"),
      empty: "All",
    },
  ];
  const { data, error } = useApi<QualityReport>(
    `/v1/reports/traffic-quality${qs({ ...rangeQuery(g), ...filters })}`,
  );
  return (
    <Page
      title="Traffic quality"
      intro="What the traffic rules found in the date range (at most 31 days): clicks carrying each reason code, and the conversions each rule fired on, by action."
    >
      <Card>
        <Form
          id="quality-filters"
          fields={fields}
          initial={filters}
          submit="Show"
          resetOnSuccess={false}
          onSubmit={async (v) => setFilters(bodyOf(fields, v) as Record<string, string>)}
        />
      </Card>
      <ErrorBox error={error} />
      {!data && !error ? <Loading /> : null}
      {data ? (
        <div class="grid two">
          <Card title="Flagged clicks">
            {data.clicks.length === 0 ? (
              <p class="muted">No flagged clicks.</p>
            ) : (
              <div class="datatable">
                <table id="quality-clicks">
                  <caption class="sr-only">Flagged clicks by reason</caption>
                  <Head cols={["Reason", "Clicks"]} />
                  <tbody>
                    {data.clicks.map((c) => (
                      <tr key={c.reason}>
                        <td data-label="Reason">
                          <a href={href("clicks", { reason: c.reason, ...filters })}>
                            <code>{c.reason}</code>
                          </a>
                        </td>
                        <td data-label="Clicks" class="num">
                          {number(c.clicks)}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </Card>
          <Card title="Conversions by rule">
            {data.conversions.length === 0 ? (
              <p class="muted">No rule fired on a conversion.</p>
            ) : (
              <div class="datatable">
                <table id="quality-conversions">
                  <caption class="sr-only">Conversions each rule fired on</caption>
                  <Head cols={["Rule", "Action", "Conversions", "Rejected", "Held"]} />
                  <tbody>
                    {data.conversions.map((c) => (
                      <tr key={`${c.reason}:${c.action}`}>
                        <td data-label="Rule">
                          <a href={href("reviews", { reason: c.reason, state: "open", ...filters })}>
                            <code>{c.reason}</code>
                          </a>
                        </td>
                        <td data-label="Action">
                          <Badge value={c.action} />
                        </td>
                        <td data-label="Conversions" class="num">
                          {number(c.conversions)}
                        </td>
                        <td data-label="Rejected" class="num">
                          {number(c.rejected)}
                        </td>
                        <td data-label="Held" class="num">
                          {number(c.held)}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </Card>
        </div>
      ) : null}
    </Page>
  );
}
