/**
 * How each affiliate is paid (issue 14): its cycle and time zone, hold, parent and sub-affiliate
 * shares, negative carryover, and payment details (write-only: the account is shown masked);
 * the minimum payout per currency; what parents earned from their sub-affiliates.
 */
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { nameColumn } from "../components/columns.tsx";
import { bodyOf, type Field, Form, type Values } from "../components/form.tsx";
import { DataTable, type Row } from "../components/table.tsx";
import { Card, ErrorBox, Facts, Loading, Money, Page, toast } from "../components/ui.tsx";
import { optionsOf, useNames } from "../names.ts";
import { go } from "../route.ts";
import { canWrite, isStaff } from "../session.ts";
import { useApi } from "../use-api.ts";
import { currencyField, opts } from "./options.ts";
import type { PageProps } from "./registry.ts";

type Settings = {
  affiliate_id: string;
  cycle: string;
  cycle_days: number | null;
  cycle_anchor: string;
  time_zone: string;
  payout_hold: boolean;
  payout_hold_reason: string | null;
  parent_affiliate_id: string | null;
  sub_share_percent: string;
  sub_tier3_percent: string;
  negative_carryover: string;
};
type Details = {
  method: string | null;
  account_reference_masked: string | null;
  account_holder: string | null;
  bic: string | null;
  vat_number: string | null;
  vat_rate: string | null;
};

const percent = (name: string, label: string): Field => ({
  name,
  label,
  pattern: "\\d{1,3}(\\.\\d{1,6})?",
  placeholder: "0",
});

export function PayoutSettingsPage({ me, route }: PageProps) {
  const all = useNames();
  const id = route.params.get("affiliate_id") ?? "";
  const [version, setVersion] = useState(0);
  return (
    <Page
      title="Payout settings"
      intro="How each affiliate is paid: its cycle (counted in its time zone), holds, parent and sub-affiliate shares, what happens to a negative period, and where the money goes. Minimums apply per currency."
    >
      <Card>
        <label for="settings-affiliate">Affiliate</label>
        <select
          id="settings-affiliate"
          value={id}
          onChange={(e) => go("payout-settings", { affiliate_id: e.currentTarget.value })}
        >
          <option value="">Choose an affiliate…</option>
          {optionsOf(all, "affiliate").map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      </Card>
      {id ? <AffiliateSettings key={id} id={id} me={me} /> : null}
      <Minimums me={me} version={version} onChange={() => setVersion((v) => v + 1)} />
    </Page>
  );
}

function AffiliateSettings(p: { id: string; me: PageProps["me"] }) {
  const all = useNames();
  const [version, setVersion] = useState(0);
  const settings = useApi<Settings>(`/v1/affiliates/${p.id}/payout-settings`, version);
  const details = useApi<Details>(`/v1/affiliates/${p.id}/payment-details`, version);
  const writer = canWrite(p.me);
  const fields: Field[] = [
    {
      name: "cycle",
      label: "Cycle",
      type: "select",
      required: true,
      options: opts("weekly", "biweekly", "monthly", "custom"),
    },
    {
      name: "cycle_days",
      label: "Days per period",
      type: "number",
      min: 1,
      max: 366,
      when: (v) => v.cycle === "custom",
    },
    { name: "cycle_anchor", label: "Counted from", type: "date", when: (v) => v.cycle !== "monthly" },
    {
      name: "time_zone",
      label: "Time zone",
      placeholder: "Europe/Malta",
      help: "IANA name: periods are local days",
    },
    { name: "payout_hold", label: "Hold every payout", type: "checkbox" },
    { name: "payout_hold_reason", label: "Why held", when: (v) => v.payout_hold === true },
    {
      name: "parent_affiliate_id",
      label: "Parent (sub-affiliate of)",
      type: "select",
      options: optionsOf(all, "affiliate").filter((o) => o.value !== p.id),
    },
    percent("sub_share_percent", "Share of its children's commission (tier 2, %)"),
    percent("sub_tier3_percent", "Share of its grandchildren's commission (tier 3, %)"),
    {
      name: "negative_carryover",
      label: "A negative period",
      type: "select",
      required: true,
      options: [
        { value: "carry", label: "carry into the next period" },
        { value: "reset", label: "reset to zero at period end" },
      ],
    },
  ];
  const detailFields: Field[] = [
    {
      name: "method",
      label: "Method",
      type: "select",
      required: true,
      options: opts("paypal", "bank_transfer", "tipalti"),
    },
    {
      name: "account_reference",
      label: "Account (PayPal e-mail, IBAN or payee ID)",
      required: true,
      help: "write-only: shown masked once saved",
    },
    { name: "account_holder", label: "Account holder" },
    { name: "bic", label: "BIC", pattern: "[A-Z0-9]{8}([A-Z0-9]{3})?" },
    { name: "vat_number", label: "VAT number" },
    { name: "vat_rate", label: "VAT rate (%)", pattern: "\\d{1,2}(\\.\\d{1,2})?" },
  ];
  if (settings.loading && !settings.data) return <Loading />;
  if (settings.error) return <ErrorBox error={settings.error} />;
  const s = settings.data;
  if (!s) return null;
  // An affiliate without payment details answers method null (not a 404: nothing is missing).
  const noDetails = details.data?.method === null;
  const d = details.data?.method ? details.data : undefined;
  return (
    <div class="grid two" id="affiliate-payout-settings">
      <Card title="Cycle, hold, sub-affiliates, carryover">
        {writer ? (
          <Form
            key={`s${version}`}
            id="payout-settings-form"
            fields={fields}
            initial={{
              ...s,
              cycle_days: s.cycle_days ?? undefined,
              parent_affiliate_id: s.parent_affiliate_id ?? "",
            }}
            resetOnSuccess={false}
            submit="Save settings"
            onSubmit={async (v: Values) => {
              const body = bodyOf(fields, v);
              await api("PUT", `/v1/affiliates/${p.id}/payout-settings`, {
                ...body,
                payout_hold: v.payout_hold === true,
                parent_affiliate_id: v.parent_affiliate_id ? v.parent_affiliate_id : null,
              });
              toast("payout settings saved");
              setVersion((x) => x + 1);
            }}
          />
        ) : (
          <Facts
            items={[
              ["Cycle", s.cycle === "custom" ? `every ${s.cycle_days} days` : s.cycle],
              ["Time zone", s.time_zone],
              ["Held", s.payout_hold ? (s.payout_hold_reason ?? "yes") : "no"],
              ["Tier 2 share", `${s.sub_share_percent} %`],
              ["Negative period", s.negative_carryover],
            ]}
          />
        )}
      </Card>
      <Card title="Payment details">
        {d ? (
          <Facts
            items={[
              ["Method", (d.method ?? "").replace("_", " ")],
              ["Account", d.account_reference_masked ?? ""],
              ["Holder", d.account_holder ?? ""],
              ["BIC", d.bic ?? ""],
              ["VAT", d.vat_number ? `${d.vat_number}${d.vat_rate ? ` (${d.vat_rate} %)` : ""}` : ""],
            ]}
          />
        ) : noDetails ? (
          <p class="muted" id="no-payment-details">
            No payment details yet: this affiliate is left out of payout runs until it has some.
          </p>
        ) : details.error ? (
          <ErrorBox error={details.error} />
        ) : null}
        {writer ? (
          <details>
            <summary>{d ? "Replace payment details" : "Add payment details"}</summary>
            <Form
              id="payment-details-form"
              fields={detailFields}
              submit="Save payment details"
              onSubmit={async (v: Values) => {
                await api("PUT", `/v1/affiliates/${p.id}/payment-details`, bodyOf(detailFields, v));
                toast("payment details saved");
                setVersion((x) => x + 1);
              }}
            />
          </details>
        ) : null}
      </Card>
    </div>
  );
}

function Minimums(p: { me: PageProps["me"]; version: number; onChange: () => void }) {
  const fields: Field[] = [
    currencyField("currency", "Currency"),
    { name: "minimum", label: "Minimum payout", required: true, type: "decimal", placeholder: "50.00" },
  ];
  return (
    <Card title="Minimum payout per currency">
      {canWrite(p.me) ? (
        <Form
          id="minimum-form"
          fields={fields}
          submit="Set minimum"
          onSubmit={async (v: Values) => {
            await api("PUT", `/v1/payout-minimums/${String(v.currency)}`, { minimum: String(v.minimum) });
            toast("minimum set");
            p.onChange();
          }}
        />
      ) : null}
      <DataTable
        path="/v1/payout-minimums"
        caption="Minimums"
        csvName="payout-minimums"
        paged={false}
        version={p.version}
        rowKey={(r) => String(r.currency)}
        empty="No minimums: any positive balance is paid."
        columns={[
          { key: "currency" },
          {
            key: "minimum",
            numeric: true,
            render: (r) => <Money amount={r.minimum as string} currency={r.currency as string} />,
          },
        ]}
      />
    </Card>
  );
}

/** What parents earn from their sub-affiliates (tier 2 and 3), per currency; an affiliate sees its own. */
export function SubAffiliateEarningsPage({ me }: PageProps) {
  const all = useNames();
  const staff = isStaff(me);
  const money = (key: string) => ({
    key,
    numeric: true,
    render: (r: Row) => <Money amount={r[key] as string} currency={r.currency as string} />,
  });
  return (
    <Page
      title="Sub-affiliate earnings"
      intro="What each parent earned from its sub-affiliates' commission in the date range: tier 2 (a child's) and tier 3 (a grandchild's), in the currency the child earned in, net of reversals."
    >
      <DataTable
        path="/v1/sub-affiliates/earnings"
        caption="Sub-affiliate earnings"
        csvName="sub-affiliate-earnings"
        paged={false}
        global={{ range: true }}
        rowKey={(r) => `${r.affiliate_id}-${r.sub_affiliate_id}-${r.tier}-${r.currency}`}
        filters={
          staff ? [{ name: "affiliate_id", label: "Parent", options: optionsOf(all, "affiliate") }] : []
        }
        columns={[
          ...(staff ? [nameColumn(all, "affiliate", "affiliate_id", "Parent")] : []),
          { key: "sub_affiliate_name", label: "Sub-affiliate" },
          { key: "tier", numeric: true },
          { key: "currency" },
          { key: "conversions", numeric: true },
          money("earned"),
          money("reversed"),
          money("net"),
        ]}
      />
    </Page>
  );
}
