/**
 * The operator's own webhooks for partner events (payout.paid, payout.failed, statement.ready of
 * every affiliate): add one (its signing secret shown once), pause or enable it, see its deliveries.
 */
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { statusColumn, timeColumn } from "../components/columns.tsx";
import type { Field, Values } from "../components/form.tsx";
import { Form } from "../components/form.tsx";
import { DataTable, type Row } from "../components/table.tsx";
import { Card, Copy, Page, toast } from "../components/ui.tsx";
import { href } from "../route.ts";
import { canWrite } from "../session.ts";
import type { PageProps } from "./registry.ts";

const EVENTS = [
  { name: "payout_paid", event: "payout.paid", label: "payout.paid (a line marked paid)" },
  { name: "payout_failed", event: "payout.failed", label: "payout.failed (a line marked failed)" },
  { name: "statement_ready", event: "statement.ready", label: "statement.ready (a cycle's statement)" },
];

const FIELDS: Field[] = [
  { name: "name", label: "Name", required: true, placeholder: "Finance ERP" },
  { name: "url", label: "URL", type: "url", required: true, placeholder: "https://erp.example/hooks" },
  ...EVENTS.map((e): Field => ({ name: e.name, label: e.label, type: "checkbox" })),
];

export function OperatorWebhooksPage({ me }: PageProps) {
  const [version, setVersion] = useState(0);
  const [secret, setSecret] = useState<string | null>(null);
  const setStatus = (r: Row, status: string, reload: () => void) => async () => {
    try {
      await api("PATCH", `/v1/operator-webhooks/${r.id as string}`, { status });
      toast(status === "active" ? "webhook enabled" : "webhook paused");
      reload();
    } catch (err) {
      toast((err as Error).message);
    }
  };
  return (
    <Page
      title="Operator webhooks"
      intro="Your own endpoints for payout and statement events of every affiliate, sent like affiliate postbacks: signed (Standard Webhooks, with the webhook's own secret), retried, logged and replayable."
    >
      {canWrite(me) ? (
        <details class="card">
          <summary>Add a webhook</summary>
          <Form
            id="operator-webhook"
            fields={FIELDS}
            initial={{ payout_paid: true, payout_failed: true, statement_ready: false }}
            submit="Add webhook"
            onSubmit={async (v: Values) => {
              const created = await api<{ secret: string }>("POST", "/v1/operator-webhooks", {
                name: v.name,
                url: v.url,
                events: EVENTS.filter((e) => v[e.name] === true).map((e) => e.event),
              });
              setSecret(created.secret);
              toast("webhook added");
              setVersion((x) => x + 1);
            }}
          />
        </details>
      ) : null}
      {secret ? (
        <Card class="notice" title="Signing secret (shown once)">
          <p class="muted">Verify each request with it; rotate it under Signing secrets.</p>
          <Copy text={secret} label="Copy secret" show />
        </Card>
      ) : null}
      <DataTable
        path="/v1/operator-webhooks"
        caption="Operator webhooks"
        csvName="operator-webhooks"
        version={version}
        columns={[
          { key: "name" },
          { key: "url", label: "URL" },
          { key: "events", value: (r) => (r.events as string[]).join(", ") },
          statusColumn(),
          { key: "disabled_reason", label: "Disabled because" },
          timeColumn("last_success_at", "Last success"),
        ]}
        actions={(r, reload) => (
          <>
            <a class="button secondary" href={href("deliveries", { webhook_id: String(r.id) })}>
              Deliveries
            </a>
            {canWrite(me) ? (
              r.status === "active" ? (
                <button type="button" class="secondary" onClick={setStatus(r, "disabled", reload)}>
                  Pause
                </button>
              ) : (
                <button type="button" onClick={setStatus(r, "active", reload)}>
                  Enable
                </button>
              )
            ) : null}
          </>
        )}
      />
    </Page>
  );
}
