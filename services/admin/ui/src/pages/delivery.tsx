import { nameColumn, timeColumn } from "../components/columns.tsx";
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { bodyOf, type Field, Form } from "../components/form.tsx";
import { DataTable, type Row } from "../components/table.tsx";
import { Badge, Card, Copy, Name, Page, Time, toast } from "../components/ui.tsx";
import { type Names, optionsOf, useNames } from "../names.ts";
import { href } from "../route.ts";
import { canWrite, isStaff } from "../session.ts";
import { useApi } from "../use-api.ts";
import { opts, platformName } from "./options.ts";
import type { PageProps } from "./registry.ts";

type Attempt = {
  attempt: number;
  started_at: string;
  status_code: number | null;
  error: string | null;
  latency_ms: number | null;
  response_excerpt: string | null;
};

export function Attempts(p: { id: string; onClose: () => void }) {
  const { data } = useApi<Row & { attempts?: Attempt[] }>(`/v1/deliveries/${p.id}`);
  return (
    <Card title={`Delivery ${p.id}: attempts`}>
      {data ? (
        <ol class="attempts">
          {(data.attempts ?? []).map((a) => (
            <li key={a.attempt}>
              <Time at={a.started_at} /> → {a.status_code ?? a.error ?? "no answer"}
              {a.latency_ms !== null ? ` in ${a.latency_ms} ms` : ""}
              {a.response_excerpt ? (
                <>
                  {" "}
                  <code>{a.response_excerpt}</code>
                </>
              ) : null}
            </li>
          ))}
        </ol>
      ) : null}
      {data && (data.attempts ?? []).length === 0 ? <p class="muted">Not attempted yet.</p> : null}
      <button type="button" class="secondary" onClick={p.onClose}>
        Close
      </button>
    </Card>
  );
}

/** Replay is for what was given up on (failed, dead); a pending one is still being retried. */
export const replayable = (status: unknown) => status === "failed" || status === "dead";
/** A pending delivery that failed at least once waits out its backoff: it can be retried now. */
export const retryable = (r: Row) => r.status === "pending" && Number(r.attempts) > 0;

function act(label: string, call: () => Promise<unknown>, reload: () => void) {
  return async () => {
    try {
      await call();
      toast(label);
      reload();
    } catch (err) {
      toast((err as Error).message);
    }
  };
}

/** Where a delivery went: an affiliate's postback, an ad-platform forward or an operator webhook. */
export const kindOf = (r: Row): "forward" | "webhook" | "postback" =>
  r.destination_id ? "forward" : r.webhook_id ? "webhook" : "postback";

function target(all: Names, r: Row): string {
  const kind = kindOf(r);
  if (kind === "forward") {
    const d = all.destination.get(String(r.destination_id));
    const platform = platformName(d?.platform);
    return `${d?.name ?? `destination #${r.destination_id}`}${platform ? ` (${platform})` : ""}`;
  }
  if (kind === "webhook") return all.webhook.get(String(r.webhook_id))?.name ?? `webhook #${r.webhook_id}`;
  return all.affiliate.get(String(r.affiliate_id))?.name ?? String(r.affiliate_id ?? "");
}

const KINDS = [
  { value: "postback", label: "affiliate postbacks" },
  { value: "forward", label: "ad-platform forwards" },
  { value: "webhook", label: "operator webhooks" },
];

export function DeliveriesPage({ me, route }: PageProps) {
  const all = useNames();
  const staff = isStaff(me);
  const [open, setOpen] = useState<string | null>(null);
  const initial: Record<string, string> = {};
  for (const k of [
    "status",
    "kind",
    "template_id",
    "destination_id",
    "webhook_id",
    "affiliate_id",
    "conversion_id",
  ]) {
    const v = route.params.get(k);
    if (v) initial[k] = v;
  }
  return (
    <Page
      title="Outbound postbacks"
      intro={
        staff
          ? "Everything sent out and its attempts: affiliates' postbacks, conversions forwarded to ad platforms (Conversions API) and your operator webhooks. Failed and dead ones can be replayed once the endpoint is fixed; a failing pending one is retried on its schedule, or at once with Retry now. A skipped forward was deliberately not sent (too old for the platform, nothing to match it by): the reason says which."
          : "Every postback sent to your tracker and its attempts. Failed and dead ones can be replayed once your endpoint is fixed; a failing pending one is retried on its schedule, or at once with Retry now."
      }
    >
      {open ? <Attempts id={open} onClose={() => setOpen(null)} /> : null}
      <DataTable
        // A link to this page with other filters (a destination's forwards, the skipped ones)
        // starts the list over with them, even when this page is already open.
        key={route.params.toString()}
        path="/v1/deliveries"
        server={{ search: true, sort: ["created_at", "next_attempt_at", "attempts", "status"] }}
        caption="Outbound postbacks"
        csvName="deliveries"
        initialFilters={initial}
        filters={[
          {
            name: "status",
            label: "Status",
            options: staff
              ? opts("pending", "delivered", "failed", "dead", "skipped")
              : opts("pending", "delivered", "failed", "dead"),
          },
          ...(staff
            ? [
                { name: "kind", label: "Kind", options: KINDS },
                { name: "affiliate_id", label: "Affiliate", options: optionsOf(all, "affiliate") },
                { name: "destination_id", label: "Ad platform", options: optionsOf(all, "destination") },
              ]
            : []),
          { name: "conversion_id", label: "Conversion" },
        ]}
        columns={[
          timeColumn("created_at", "Created"),
          staff
            ? {
                key: "sent_to",
                label: "Sent to",
                render: (r) => {
                  const kind = kindOf(r);
                  const id = String(
                    kind === "forward"
                      ? r.destination_id
                      : kind === "webhook"
                        ? r.webhook_id
                        : r.affiliate_id,
                  );
                  return (
                    <>
                      <Name
                        kind={
                          kind === "forward" ? "destination" : kind === "webhook" ? "webhook" : "affiliate"
                        }
                        id={id}
                      />
                      {kind === "forward" && all.destination.get(id) ? (
                        <span class="muted"> · {platformName(all.destination.get(id)?.platform)}</span>
                      ) : kind === "webhook" ? (
                        <span class="muted"> · operator webhook</span>
                      ) : null}
                    </>
                  );
                },
                value: (r) => target(all, r),
              }
            : nameColumn(all, "affiliate", "affiliate_id", "Affiliate"),
          {
            key: "conversion_id",
            label: "Conversion",
            render: (r) =>
              r.conversion_id && staff ? (
                <a href={href("trace", { conversion_id: String(r.conversion_id) })} title="its trace">
                  {String(r.conversion_id)}
                </a>
              ) : r.conversion_id ? (
                String(r.conversion_id)
              ) : (
                String(r.event_id ?? "")
              ),
          },
          {
            key: "status",
            render: (r) => (
              <>
                <Badge value={r.status as string} />
                {r.status === "pending" && Number(r.attempts) > 0 ? (
                  <span class="muted">
                    {" "}
                    retrying{r.last_status_code ? ` (last ${r.last_status_code})` : ""}
                  </span>
                ) : null}
              </>
            ),
          },
          { key: "attempts", numeric: true },
          {
            key: "next_attempt_at",
            label: "Next attempt",
            render: (r) => (r.status === "pending" ? <Time at={r.next_attempt_at as string} /> : ""),
          },
          {
            key: "last_error",
            label: "Reason or last error",
            render: (r) =>
              r.status !== "delivered" && r.last_error ? (
                <span class="wrap">{String(r.last_error)}</span>
              ) : (
                ""
              ),
            value: (r) => (r.status !== "delivered" ? (r.last_error as string | null) : null),
          },
          { key: "url", label: "URL", render: (r) => <code class="wrap">{String(r.url ?? "")}</code> },
        ]}
        actions={(r, reload) => (
          <>
            <button type="button" class="secondary" onClick={() => setOpen(String(r.id))}>
              Attempts
            </button>
            {canWrite(me) && replayable(r.status) ? (
              <button
                type="button"
                onClick={act(
                  `delivery ${r.id} queued again`,
                  () => api("POST", `/v1/deliveries/${r.id}/replay`),
                  reload,
                )}
              >
                Replay
              </button>
            ) : null}
            {canWrite(me) && retryable(r) ? (
              <button
                type="button"
                title="Send it now instead of at the next scheduled attempt (the endpoint was fixed)"
                onClick={act(
                  `delivery ${r.id} is sent now`,
                  () => api("POST", `/v1/deliveries/${r.id}/retry`),
                  reload,
                )}
              >
                Retry now
              </button>
            ) : null}
          </>
        )}
      />
    </Page>
  );
}

export function WebhookSecretsPage({ me }: PageProps) {
  const all = useNames();
  const staff = isStaff(me);
  const [version, setVersion] = useState(0);
  const [shown, setShown] = useState<string | null>(null);
  const fields: Field[] = [
    ...(staff
      ? [
          {
            name: "affiliate_id",
            label: "Affiliate",
            type: "select" as const,
            required: true,
            options: optionsOf(all, "affiliate"),
          },
        ]
      : []),
    {
      name: "expires_at",
      label: "Expires",
      type: "datetime-local",
      help: "optional: when an old secret stops signing",
    },
  ];
  return (
    <Page
      title="Webhook signing secrets"
      intro="Outbound postbacks are signed (Standard Webhooks) with the affiliate's active secrets. Add a new one, switch the receiver over, then expire the old one."
    >
      {shown ? (
        <Card class="notice" title="New secret (shown once)">
          <Copy text={shown} label="signing secret" />
          <button type="button" class="secondary" onClick={() => setShown(null)}>
            Done
          </button>
        </Card>
      ) : null}
      {canWrite(me) ? (
        <details class="card">
          <summary>Add a secret</summary>
          <Form
            fields={fields}
            submit="Add secret"
            onSubmit={async (v) => {
              const body = bodyOf(fields, v);
              if (body.expires_at) body.expires_at = new Date(String(body.expires_at)).toISOString();
              const r = await api<{ secret?: string }>("POST", "/v1/webhook-secrets", {
                affiliate_id: me.affiliateId ?? undefined,
                ...body,
              });
              setShown(r.secret ?? null);
              setVersion((x) => x + 1);
            }}
          />
        </details>
      ) : null}
      <DataTable
        path="/v1/webhook-secrets"
        caption="Webhook signing secrets"
        csvName="webhook-secrets"
        version={version}
        filters={
          staff ? [{ name: "affiliate_id", label: "Affiliate", options: optionsOf(all, "affiliate") }] : []
        }
        columns={[
          nameColumn(all, "affiliate", "affiliate_id", "Affiliate"),
          { key: "hint", render: (r) => <code>{String(r.hint ?? r.secret_hint ?? "")}</code> },
          timeColumn("created_at", "Created"),
          {
            key: "expires_at",
            label: "Expires",
            render: (r) => (r.expires_at ? <Time at={r.expires_at as string} /> : "never"),
          },
        ]}
        actions={
          canWrite(me)
            ? (r, reload) =>
                !r.expires_at || Date.parse(String(r.expires_at)) > Date.now() ? (
                  <button
                    type="button"
                    class="secondary"
                    onClick={async () => {
                      try {
                        await api("POST", `/v1/webhook-secrets/${r.id}/expire`, {});
                        toast("secret expired");
                        reload();
                      } catch (err) {
                        toast((err as Error).message);
                      }
                    }}
                  >
                    Expire now
                  </button>
                ) : null
            : undefined
        }
      />
    </Page>
  );
}
