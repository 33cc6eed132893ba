/**
 * Paying partners (issue 14): preview a payout run with why each balance is or is not paid,
 * approve it, download the mass-payment files, upload the provider's result file and see each
 * line's outcome; the payout lines (an affiliate sees its own payouts).
 */
import { useState } from "preact/hooks";
import { api, download } from "../api.ts";
import { nameColumn, statusColumn, timeColumn } from "../components/columns.tsx";
import { DataTable, type Row } from "../components/table.tsx";
import { Badge, Card, ErrorBox, Facts, Loading, Money, Name, Page, Time, toast } from "../components/ui.tsx";
import { isoDay, money } from "../format.ts";
import { optionsOf, useNames } from "../names.ts";
import { go, href } from "../route.ts";
import { canWrite, isStaff } from "../session.ts";
import { useApi } from "../use-api.ts";
import { opts } from "./options.ts";
import type { PageProps } from "./registry.ts";

type Totals = Record<string, { amount: string; lines: number }>;
type PlanLine = {
  affiliate_id: string;
  currency: string;
  due: string;
  carryover: string;
  minimum: string;
  period_start: string | null;
  period_end: string | null;
  paid: boolean;
  reason: string | null;
  method: string | null;
  account_reference_masked: string | null;
};
type Preview = { period_end: string; totals: Totals; lines: PlanLine[] };
type Run = { id: string; period_end: string; actor: string; totals: Totals; created_at: string };

/** Why a balance is not in the run, in the operator's words. */
const WHY: Record<string, string> = {
  not_in_cycle: "its cycle does not end that day",
  period_not_ended: "that day has not begun in its time zone yet",
  on_hold: "payouts on hold",
  nothing_due: "nothing due",
  below_minimum: "below the currency's minimum",
  missing_payment_details: "no payment details",
};

const METHODS: { format: string; method: string; label: string }[] = [
  { format: "paypal", method: "paypal", label: "PayPal Payouts CSV" },
  { format: "sepa", method: "bank_transfer", label: "Bank / SEPA CSV" },
  { format: "tipalti", method: "tipalti", label: "Tipalti CSV" },
];

function TotalsText(p: { totals: Totals }) {
  const entries = Object.entries(p.totals);
  if (!entries.length) return <span class="muted">nothing paid</span>;
  return (
    <span>
      {entries.map(([currency, t], i) => (
        <span key={currency}>
          {i ? " · " : ""}
          <Money amount={t.amount} currency={currency} /> ({t.lines} {t.lines === 1 ? "line" : "lines"})
        </span>
      ))}
    </span>
  );
}

const lineReference = (r: Row) => `RT-${r.id as string}`;

export function PayoutRunsPage({ me, route }: PageProps) {
  const runId = route.params.get("run");
  const [version, setVersion] = useState(0);
  return (
    <Page
      title="Payout runs"
      intro="A run pays every affiliate whose cycle ends on a day, up to that day's midnight in the affiliate's time zone: approved earnings out of hold, net of what was paid, reversals and carryover. Preview it, approve it, pay the export files, then upload the provider's result file."
    >
      {runId ? (
        <RunDetail id={runId} me={me} onChange={() => setVersion((v) => v + 1)} />
      ) : (
        <RunPreview me={me} onApproved={() => setVersion((v) => v + 1)} />
      )}
      <DataTable<Run & Row>
        path="/v1/payout-runs"
        caption="Approved runs"
        csvName="payout-runs"
        paged={false}
        version={version}
        columns={[
          { key: "id", label: "Run" },
          { key: "period_end", label: "Cycles ending", value: (r) => r.period_end.slice(0, 10) },
          {
            key: "totals",
            label: "Paid",
            render: (r) => <TotalsText totals={r.totals} />,
            value: (r) =>
              Object.entries(r.totals)
                .map(([c, t]) => `${c} ${t.amount}`)
                .join("; "),
          },
          { key: "actor", label: "Approved by" },
          timeColumn("created_at", "Approved"),
        ]}
        actions={(r) => (
          <a class="button secondary" href={href("payout-runs", { run: r.id })}>
            Open
          </a>
        )}
      />
    </Page>
  );
}

function RunPreview(p: { me: PageProps["me"]; onApproved: () => void }) {
  const [day, setDay] = useState(isoDay(new Date()));
  const [preview, setPreview] = useState<Preview | null>(null);
  const [key, setKey] = useState<string>("");
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const writer = canWrite(p.me);
  const run = async () => {
    setError(null);
    setBusy(true);
    try {
      setPreview(await api<Preview>("POST", "/v1/payout-runs/preview", { period_end: day }));
      setKey(crypto.randomUUID()); // approving this preview twice approves once
    } catch (err) {
      setPreview(null);
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  const approve = async () => {
    setError(null);
    setBusy(true);
    try {
      const r = await api<Run>("POST", "/v1/payout-runs", { period_end: day, idempotency_key: key });
      toast(`run ${r.id} approved`);
      setPreview(null);
      p.onApproved();
      go("payout-runs", { run: r.id });
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  const paid = preview?.lines.filter((l) => l.paid) ?? [];
  return (
    <Card title="Preview a run">
      <form
        id="run-preview"
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <label for="run-day">Cycles ending on</label>
        <input id="run-day" type="date" required value={day} onInput={(e) => setDay(e.currentTarget.value)} />
        <div class="buttons">
          <button type="submit" disabled={busy}>
            Preview
          </button>
        </div>
      </form>
      <ErrorBox error={error} />
      {preview ? (
        <div id="run-plan">
          <Facts
            items={[
              ["Cycles ending", preview.period_end.slice(0, 10)],
              ["Would pay", <TotalsText key="t" totals={preview.totals} />],
              ["Balances looked at", String(preview.lines.length)],
            ]}
          />
          <table>
            <caption>Who is paid, and why not</caption>
            <thead>
              <tr>
                <th scope="col">Affiliate</th>
                <th scope="col">Currency</th>
                <th scope="col" class="num">
                  Due
                </th>
                <th scope="col" class="num">
                  Carryover
                </th>
                <th scope="col">Period</th>
                <th scope="col">Paid by</th>
                <th scope="col">In this run</th>
              </tr>
            </thead>
            <tbody>
              {preview.lines.map((l) => (
                <tr key={`${l.affiliate_id}-${l.currency}`} class={l.paid ? "" : "muted"}>
                  <td>
                    <Name kind="affiliate" id={l.affiliate_id} />
                  </td>
                  <td>{l.currency}</td>
                  <td class="num">
                    <Money amount={l.due} currency={l.currency} />
                  </td>
                  <td class="num">
                    <Money amount={l.carryover} currency={l.currency} />
                  </td>
                  <td>
                    {l.period_start && l.period_end ? (
                      <>
                        <Time at={l.period_start} /> – <Time at={l.period_end} />
                      </>
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                  <td>
                    {l.method ? `${l.method.replace("_", " ")} ${l.account_reference_masked ?? ""}` : "—"}
                  </td>
                  <td>
                    {l.paid ? (
                      <Badge value="paid" />
                    ) : (
                      <span>
                        <Badge value={l.reason ?? "not paid"} />{" "}
                        {l.reason === "below_minimum"
                          ? `minimum ${money(l.minimum, l.currency)}`
                          : WHY[l.reason ?? ""]}
                      </span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {writer ? (
            <div class="buttons">
              <button type="button" disabled={busy || paid.length === 0} onClick={approve}>
                Approve run ({paid.length} {paid.length === 1 ? "line" : "lines"})
              </button>
            </div>
          ) : (
            <p class="muted">Admins and managers approve runs.</p>
          )}
        </div>
      ) : null}
    </Card>
  );
}

function RunDetail(p: { id: string; me: PageProps["me"]; onChange: () => void }) {
  const all = useNames();
  const [version, setVersion] = useState(0);
  const { data, error, loading } = useApi<Run & { lines: Row[] }>(`/v1/payout-runs/${p.id}`, version);
  const [csv, setCsv] = useState<string | null>(null);
  const [importError, setImportError] = useState<Error | null>(null);
  type Counts = { paid: number; failed: number; unchanged: number; still_pending: number };
  const [result, setResult] = useState<Counts | null>(null);
  const writer = canWrite(p.me);
  if (loading && !data) return <Loading />;
  if (error) return <ErrorBox error={error} />;
  if (!data) return null;
  const pending = (method: string) =>
    data.lines.filter((l) => l.method === method && l.status === "pending").length;
  const upload = async () => {
    setImportError(null);
    try {
      const r = await api<Counts>(
        "POST",
        `/v1/payout-runs/${p.id}/results`,
        new Blob([csv ?? ""], { type: "text/csv" }),
      );
      setResult(r);
      toast(`${r.paid} paid, ${r.failed} failed`);
      setVersion((v) => v + 1);
      p.onChange();
    } catch (err) {
      setImportError(err as Error);
    }
  };
  return (
    <div id="run-detail">
      <Card title={`Run ${data.id}`}>
        <Facts
          items={[
            ["Cycles ending", data.period_end.slice(0, 10)],
            ["Paid", <TotalsText key="t" totals={data.totals} />],
            ["Approved by", data.actor],
            ["Approved", <Time key="at" at={data.created_at} />],
          ]}
        />
        <p>
          <a href={href("payout-runs")}>All runs</a>
        </p>
      </Card>
      {writer ? (
        <div class="grid two">
          <Card title="Export files for mass payment">
            <p class="muted">
              Pending lines of each method, with the account references whole and each line's reference
              (RT-…), which the provider's result file echoes back.
            </p>
            <div class="buttons">
              {METHODS.map((m) => (
                <button
                  key={m.format}
                  type="button"
                  class="secondary"
                  disabled={pending(m.method) === 0}
                  onClick={() =>
                    download(
                      `/v1/payout-runs/${p.id}/export?format=${m.format}`,
                      `payout-run-${p.id}-${m.format}.csv`,
                    ).catch((e) => toast(`Download failed: ${(e as Error).message}`))
                  }
                >
                  {m.label} ({pending(m.method)})
                </button>
              ))}
            </div>
          </Card>
          <Card title="Upload the provider's result file">
            <p class="muted">
              CSV with a reference column (Reference ID, reference, Ref Code, end_to_end_id or line_id) and
              status; optionally Transaction ID and Reason. All lines or none; a failed line's amount returns
              to the balance; a pending or unclaimed one stays pending until a later file settles it.
            </p>
            <label for="result-csv">Result file (CSV)</label>
            <input
              id="result-csv"
              type="file"
              accept=".csv,text/csv"
              onChange={async (e) => setCsv((await e.currentTarget.files?.[0]?.text()) ?? null)}
            />
            <ErrorBox error={importError} />
            {result ? (
              <p id="result-counts">
                {result.paid} paid, {result.failed} failed, {result.unchanged} unchanged,{" "}
                {result.still_pending} not settled yet
              </p>
            ) : null}
            <div class="buttons">
              <button type="button" disabled={!csv} onClick={upload}>
                Import results
              </button>
            </div>
          </Card>
        </div>
      ) : null}
      <DataTable
        path="/v1/payout-lines"
        params={{ run_id: p.id }}
        caption={`Lines of run ${data.id}`}
        csvName={`payout-run-${p.id}-lines`}
        paged={false}
        version={version}
        columns={[
          { key: "id", label: "Reference", value: lineReference, render: lineReference },
          nameColumn(all, "affiliate", "affiliate_id", "Affiliate"),
          {
            key: "amount",
            numeric: true,
            render: (r) => <Money amount={r.amount as string} currency={r.currency as string} />,
          },
          { key: "currency" },
          { key: "method", value: (r) => String(r.method).replace("_", " ") },
          { key: "account_reference_masked", label: "Account" },
          statusColumn(),
          { key: "provider_reference", label: "Provider reference" },
          { key: "failure_reason", label: "Failure" },
          timeColumn("settled_at", "Settled"),
        ]}
      />
    </div>
  );
}

/** Payout lines across runs; an affiliate sees its own payouts (the API scopes them). */
export function PayoutLinesPage({ me }: PageProps) {
  const all = useNames();
  const staff = isStaff(me);
  return (
    <Page
      title="Payouts"
      intro="Every payout line: what was paid, where to (the account masked), and the provider's outcome. A failed payout returns to the balance and is paid in a later cycle."
    >
      <DataTable
        path="/v1/payout-lines"
        caption="Payouts"
        csvName="payouts"
        paged={false}
        filters={[
          ...(staff
            ? [{ name: "affiliate_id", label: "Affiliate", options: optionsOf(all, "affiliate") }]
            : []),
          { name: "status", label: "Status", options: opts("pending", "paid", "failed") },
        ]}
        columns={[
          { key: "id", label: "Reference", value: lineReference, render: lineReference },
          ...(staff ? [nameColumn(all, "affiliate", "affiliate_id", "Affiliate")] : []),
          timeColumn("period_start", "From"),
          timeColumn("period_end", "To"),
          {
            key: "amount",
            numeric: true,
            render: (r: Row) => <Money amount={r.amount as string} currency={r.currency as string} />,
          },
          { key: "currency" },
          { key: "method", value: (r: Row) => String(r.method).replace("_", " ") },
          { key: "account_reference_masked", label: "Account" },
          statusColumn(),
          { key: "provider_reference", label: "Provider reference" },
          { key: "failure_reason", label: "Failure" },
          timeColumn("settled_at", "Settled"),
        ]}
        actions={
          staff
            ? (r) => (
                <a class="button secondary" href={href("payout-runs", { run: String(r.run_id) })}>
                  Run {String(r.run_id)}
                </a>
              )
            : undefined
        }
      />
    </Page>
  );
}
