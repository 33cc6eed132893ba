import { kindField } from "./options.ts";
import { nameColumn, timeColumn } from "../components/columns.tsx";
import { useState } from "preact/hooks";
import { api, download } from "../api.ts";
import { bodyOf, type Field, Form } from "../components/form.tsx";
import { DataTable, type Row } from "../components/table.tsx";
import { Card, ErrorBox, Money, Page, toast } from "../components/ui.tsx";
import { optionsOf, useNames } from "../names.ts";
import { canWrite, isStaff } from "../session.ts";
import { useApi } from "../use-api.ts";
import { currencyField, opts } from "./options.ts";
import type { PageProps } from "./registry.ts";

export function LedgerPage({ me }: PageProps) {
  const all = useNames();
  const staff = isStaff(me);
  return (
    <Page
      title="Payouts (ledger)"
      intro="Every commission, reversal and adjustment booked in the date range, in the affiliate's payout currency."
    >
      <DataTable
        path="/v1/ledger-entries"
        server={{ search: true, sort: ["created_at", "type", "affiliate_payout"] }}
        caption="Ledger entries"
        csvName="ledger"
        global={{ range: true }}
        filters={[
          { name: "type", label: "Type", options: opts("commission", "reversal", "adjustment") },
          { name: "offer_id", label: "Offer", options: optionsOf(all, "offer") },
          ...(staff
            ? [{ name: "affiliate_id", label: "Affiliate", options: optionsOf(all, "affiliate") }]
            : []),
          { name: "currency", label: "Currency" },
        ]}
        columns={[
          timeColumn("created_at", "Booked"),
          nameColumn(all, "affiliate", "affiliate_id", "Affiliate"),
          nameColumn(all, "offer", "offer_id", "Offer"),
          { key: "type" },
          {
            key: "affiliate_payout",
            label: "Payout",
            numeric: true,
            render: (r) => (
              <Money
                amount={(r.affiliate_payout ?? r.payout) as string}
                currency={(r.affiliate_currency ?? r.currency) as string}
              />
            ),
          },
          ...(staff
            ? [
                {
                  key: "revenue",
                  numeric: true,
                  render: (r: Row) => <Money amount={r.revenue as string} currency={r.currency as string} />,
                },
              ]
            : []),
          timeColumn("available_at", "Available"),
          { key: "conversion_id", label: "Conversion" },
          { key: "reason" },
        ]}
      />
    </Page>
  );
}

type Balance = {
  affiliate_id: string;
  currency: string;
  available: string;
  pending: string;
  total: string;
  commission: string;
  reversal: string;
  adjustment: string;
  entries: number;
};

export function BalancesPage({ me, route }: PageProps) {
  const all = useNames();
  const staff = isStaff(me);
  const [version, setVersion] = useState(0);
  const affiliate = route.params.get("affiliate_id") ?? "";
  const adjust: Field[] = [
    kindField(all, "affiliate", "affiliate_id", "Affiliate", { required: true }),
    {
      name: "amount",
      label: "Amount (negative to deduct)",
      required: true,
      pattern: "-?\\d{1,14}(\\.\\d{1,6})?",
      placeholder: "-10.00",
    },
    currencyField("currency", "Currency"),
    { name: "reason", label: "Reason", required: true },
  ];
  return (
    <Page
      title="Balances"
      intro="What each affiliate is owed per currency: available now, still held, and how it was earned."
    >
      {canWrite(me) ? (
        <details class="card">
          <summary>Book an adjustment</summary>
          <Form
            fields={adjust}
            initial={affiliate ? { affiliate_id: affiliate } : {}}
            submit="Book adjustment"
            onSubmit={async (v) => {
              await api("POST", "/v1/balances/adjustments", {
                ...bodyOf(adjust, v),
                idempotency_key: crypto.randomUUID(),
              });
              toast("adjustment booked");
              setVersion((x) => x + 1);
            }}
          />
        </details>
      ) : null}
      <DataTable<Balance & Row>
        path="/v1/balances"
        caption="Balances"
        csvName="balances"
        paged={false}
        version={version}
        initialFilters={affiliate ? { affiliate_id: affiliate } : {}}
        filters={[
          ...(staff
            ? [{ name: "affiliate_id", label: "Affiliate", options: optionsOf(all, "affiliate") }]
            : []),
          { name: "currency", label: "Currency" },
        ]}
        columns={[
          nameColumn(all, "affiliate", "affiliate_id", "Affiliate"),
          { key: "currency" },
          {
            key: "available",
            numeric: true,
            render: (r) => <Money amount={r.available} currency={r.currency} />,
          },
          {
            key: "pending",
            label: "Held",
            numeric: true,
            render: (r) => <Money amount={r.pending} currency={r.currency} />,
          },
          { key: "total", numeric: true, render: (r) => <Money amount={r.total} currency={r.currency} /> },
          {
            key: "commission",
            numeric: true,
            render: (r) => <Money amount={r.commission} currency={r.currency} />,
          },
          {
            key: "reversal",
            label: "Reversals",
            numeric: true,
            render: (r) => <Money amount={r.reversal} currency={r.currency} />,
          },
          {
            key: "adjustment",
            label: "Adjustments",
            numeric: true,
            render: (r) => <Money amount={r.adjustment} currency={r.currency} />,
          },
          { key: "entries", numeric: true },
        ]}
      />
    </Page>
  );
}

export function FxRatesPage({ me, route }: PageProps) {
  const [version, setVersion] = useState(0);
  const [csv, setCsv] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const pair = (route.params.get("pair") ?? "").split("→");
  const blocked = useApi<{ items: { kind: string; title: string; count: number }[] }>("/v1/attention");
  const blockedFx = (blocked.data?.items ?? []).filter((i) => i.kind === "commission_blocked");
  const fields: Field[] = [
    currencyField("base", "Base"),
    currencyField("quote", "Quote"),
    {
      name: "rate",
      label: "Rate (1 base = rate quote)",
      required: true,
      type: "decimal",
      placeholder: "1.08",
    },
    { name: "effective_at", label: "In force from", type: "datetime-local", required: true },
  ];
  return (
    <Page
      title="FX rates"
      intro="Commission converts between currencies with the rate in force when the conversion happened. A missing rate blocks booking until it is added; the blocked conversions then book themselves."
    >
      {blockedFx.length ? (
        <Card class="notice" title="Blocked until a rate is added">
          <ul>
            {blockedFx.map((b) => (
              <li key={b.title}>
                {b.title}: {b.count}
              </li>
            ))}
          </ul>
        </Card>
      ) : null}
      {canWrite(me) ? (
        <div class="grid two">
          <Card title="Add a rate">
            <Form
              fields={fields}
              initial={{ base: pair[0] || "", quote: pair[1] || "", effective_at: "2020-01-01T00:00" }}
              submit="Add rate"
              onSubmit={async (v) => {
                const body = bodyOf(fields, v);
                await api("POST", "/v1/fx-rates", {
                  ...body,
                  effective_at: new Date(String(v.effective_at)).toISOString(),
                });
                toast("rate added");
                setVersion((x) => x + 1);
              }}
            />
          </Card>
          <Card title="Load a CSV">
            <p class="muted">
              Header <code>base,quote,rate,effective_at</code>; all rows or none.
            </p>
            <label for="fx-csv">CSV file</label>
            <input
              id="fx-csv"
              type="file"
              accept=".csv,text/csv"
              onChange={async (e) => setCsv((await e.currentTarget.files?.[0]?.text()) ?? null)}
            />
            <ErrorBox error={error} />
            <div class="buttons">
              <button
                type="button"
                disabled={!csv}
                onClick={async () => {
                  setError(null);
                  try {
                    const r = await api<{ imported: number }>(
                      "POST",
                      "/v1/fx-rates/import",
                      new Blob([csv ?? ""], { type: "text/csv" }),
                    );
                    toast(`${r.imported} rates loaded`);
                    setVersion((x) => x + 1);
                  } catch (err) {
                    setError(err as Error);
                  }
                }}
              >
                Load rates
              </button>
            </div>
          </Card>
        </div>
      ) : null}
      <DataTable
        path="/v1/fx-rates"
        caption="FX rates"
        csvName="fx-rates"
        paged={false}
        version={version}
        filters={[
          { name: "base", label: "Base" },
          { name: "quote", label: "Quote" },
        ]}
        columns={[
          { key: "base" },
          { key: "quote" },
          { key: "rate", numeric: true },
          timeColumn("effective_at", "In force from"),
          { key: "source" },
        ]}
      />
    </Page>
  );
}

/**
 * Statements (one per affiliate per closed payout cycle), downloaded as a PDF or a printable page
 * with the session's credentials; an affiliate sees its own (the API scopes them).
 */
export function StatementsPage({ me }: PageProps) {
  const all = useNames();
  const staff = isStaff(me);
  const save = (id: unknown, kind: "pdf" | "html") => () =>
    download(`/v1/statements/${id}/${kind}`, `statement-${id}.${kind}`).catch((e) =>
      toast(`Download failed: ${(e as Error).message}`),
    );
  return (
    <Page
      title="Statements"
      intro="One statement per affiliate and closed payout cycle: line items by offer and event, adjustments, carryover and totals per currency."
    >
      <DataTable
        path="/v1/statements"
        caption="Statements"
        csvName="statements"
        paged={false}
        filters={
          staff ? [{ name: "affiliate_id", label: "Affiliate", options: optionsOf(all, "affiliate") }] : []
        }
        columns={[
          nameColumn(all, "affiliate", "affiliate_id", "Affiliate"),
          timeColumn("period_start", "From"),
          timeColumn("period_end", "To"),
          timeColumn("created_at", "Issued"),
        ]}
        actions={(r) => (
          <>
            <button type="button" onClick={save(r.id, "pdf")}>
              PDF
            </button>
            <button type="button" class="secondary" onClick={save(r.id, "html")}>
              Printable page
            </button>
          </>
        )}
      />
    </Page>
  );
}
