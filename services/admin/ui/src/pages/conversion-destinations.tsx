/**
 * Conversions API destinations (docs/conversions-api.md): where a brand's — or one offer's —
 * conversions are forwarded server to server (a Meta dataset, a Google Ads account, a TikTok
 * pixel), which of our events become which platform events, and with what credentials (write-only:
 * only the last four characters are shown; a form replaces them). Staff read them; admins and
 * managers create, edit, pause and enable them and send a test event in the platform's test mode.
 * Each destination's forwards (deliveries with its destination_id) are listed with their status —
 * skipped ones with the reason — and their attempts.
 */
import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { statusColumn, timeColumn } from "../components/columns.tsx";
import { bodyOf, type Field, type Option, type Values } from "../components/form.tsx";
import { ResourcePage } from "../components/resource.tsx";
import { DataTable, type Row } from "../components/table.tsx";
import { Badge, Card, Name, Time, toast } from "../components/ui.tsx";
import { optionsOf, useNames } from "../names.ts";
import { href, paramsOf } from "../route.ts";
import { canWrite } from "../session.ts";
import { Attempts, replayable } from "./delivery.tsx";
import { kindField, opts, PLATFORMS, platformName } from "./options.ts";
import type { PageProps } from "./registry.ts";

type Mapping = { name: string; value?: "amount" | "payout" | "none" };
type Destination = Row & {
  id: string;
  name: string;
  platform: "meta" | "google" | "tiktok";
  platform_account: string;
  login_account: string | null;
  brand_id: string;
  offer_id: string | null;
  token_hint: string;
  oauth_client: string | null;
  oauth_token_url: string | null;
  events: Record<string, Mapping>;
  send_on: string;
  click_id_sub: string | null;
  event_source_url: string | null;
  test_event_code: string | null;
  base_url: string | null;
  status: string;
  disabled_reason: string | null;
};
type Tested = {
  outcome: "delivered" | "failed" | "refused" | "network_error";
  error: string | null;
  request: { method: string; url: string; body: string };
  response: { status: number; body: string } | null;
  latency_ms: number;
};

const ACCOUNT_HELP =
  "Meta: the dataset (pixel) ID; TikTok: the pixel code; Google Ads: the customer ID, 10 digits without dashes";
const CLICK_ID_SUBS: Option[] = [
  ...["fbclid", "gclid", "gbraid", "wbraid", "ttclid"].map((v) => ({ value: v, label: v })),
  ...Array.from({ length: 10 }, (_, i) => ({ value: `sub${i + 1}`, label: `sub${i + 1}` })),
];
const eventFields: Field[] = [
  { name: "code", label: "Our event", required: true, placeholder: "ftd", pattern: "[a-z0-9_]{1,40}" },
  {
    name: "name",
    label: "Platform event",
    required: true,
    placeholder: "Purchase",
    help: "Meta Purchase, Lead…; TikTok CompletePayment…; Google: the conversion action ID",
  },
  {
    name: "value",
    label: "Value sent",
    type: "select",
    required: true,
    options: [
      { value: "amount", label: "the amount (deposit or sale)" },
      { value: "payout", label: "the affiliate's payout" },
      { value: "none", label: "no value" },
    ],
  },
];
const google = (v: Values) => v.platform === "google";
const meta = (v: Values) => v.platform === "meta";

/** The fields both forms have (create adds the scope and the platform). */
function settingsFields(editing: boolean): Field[] {
  const keep = editing ? " (empty: keep the one set)" : "";
  return [
    { name: "name", label: "Name", required: true, placeholder: "Casino dataset" },
    {
      name: "platform_account",
      label: "Platform account",
      required: true,
      pattern: "[A-Za-z0-9_\\-]{1,64}",
      help: ACCOUNT_HELP,
    },
    {
      name: "login_account",
      label: "Manager account (Google)",
      pattern: "[0-9]{10}",
      help: "the manager account the credentials sign in as, when it is not the customer",
      when: google,
    },
    {
      name: "access_token",
      label: editing ? "New access token" : "Access token",
      type: "password",
      help: `write-only: only its last 4 characters are shown${keep}`,
    },
    {
      name: "app_secret",
      label: editing ? "New app secret" : "App secret",
      type: "password",
      help: `optional: signs each request (appsecret_proof)${keep}`,
      when: meta,
    },
    ...(editing
      ? [
          {
            name: "remove_app_secret",
            label: "Stop signing (remove the app secret)",
            type: "checkbox",
            when: meta,
          } as Field,
        ]
      : []),
    {
      name: "oauth_client",
      label: "OAuth client ID",
      help: "instead of a token, which lives an hour: a refresh token's client ID, secret and the token",
      when: google,
    },
    {
      name: "oauth_client_secret",
      label: editing ? "New OAuth client secret" : "OAuth client secret",
      type: "password",
      help: `write-only${keep}`,
      when: google,
    },
    {
      name: "oauth_refresh_token",
      label: editing ? "New OAuth refresh token" : "OAuth refresh token",
      type: "password",
      help: `write-only; scope https://www.googleapis.com/auth/datamanager${keep}`,
      when: google,
    },
    {
      name: "oauth_token_url",
      label: "OAuth token endpoint",
      type: "url",
      placeholder: "https://oauth2.googleapis.com/token",
      when: google,
    },
    ...(editing
      ? [
          {
            name: "remove_oauth",
            label: "Remove the OAuth refresh credentials (use the access token)",
            type: "checkbox",
            when: google,
          } as Field,
        ]
      : []),
    {
      name: "events",
      label: "Events forwarded",
      type: "repeat",
      fields: eventFields,
      addLabel: "Add event",
      min: 1,
      help: "our event code → the platform's event; an event not listed is not forwarded",
    },
    {
      name: "send_on",
      label: "Forward",
      type: "select",
      required: true,
      options: [
        { value: "booked", label: "as soon as booked (pending or approved)" },
        { value: "approved", label: "once approved" },
      ],
    },
    {
      name: "click_id_sub",
      label: "Platform click ID from",
      type: "select",
      options: CLICK_ID_SUBS,
      empty: "the platform's own parameter",
      help: "where the click keeps fbclid, gclid or ttclid, when affiliates pass it in a sub ID",
    },
    {
      name: "event_source_url",
      label: "Event source URL",
      type: "url",
      help: "the page the event happened on; default the offer's landing page",
      when: (v) => !google(v),
    },
    {
      name: "test_event_code",
      label: "Test event code",
      help: "events then reach the platform's test tool only (and Send test needs one)",
      when: (v) => !google(v),
    },
    {
      name: "base_url",
      label: "Base URL",
      type: "url",
      help: "a gateway or a test server; default the platform's public API",
    },
  ];
}

const toRows = (events: Record<string, Mapping> | undefined): Values[] =>
  Object.entries(events ?? {}).map(([code, m]) => ({ code, name: m.name, value: m.value ?? "amount" }));
function toEvents(rows: unknown): Record<string, Mapping> {
  const out: Record<string, Mapping> = {};
  for (const r of (rows as Values[] | undefined) ?? []) {
    const code = String(r.code ?? "").trim();
    if (!code) continue;
    const value = (r.value as Mapping["value"]) || "amount";
    out[code] = { name: String(r.name ?? "").trim(), ...(value === "amount" ? {} : { value }) };
  }
  return out;
}
const sameEvents = (a: Record<string, Mapping>, b: Record<string, Mapping>) =>
  JSON.stringify(
    Object.entries(a)
      .map(([k, m]) => [k, m.name, m.value ?? "amount"])
      .sort(),
  ) ===
  JSON.stringify(
    Object.entries(b)
      .map(([k, m]) => [k, m.name, m.value ?? "amount"])
      .sort(),
  );

function editInitial(r: Destination): Values {
  return {
    platform: r.platform,
    name: r.name,
    platform_account: r.platform_account,
    login_account: r.login_account ?? "",
    oauth_client: r.oauth_client ?? "",
    oauth_token_url: r.oauth_token_url ?? "",
    events: toRows(r.events),
    send_on: r.send_on,
    click_id_sub: r.click_id_sub ?? "",
    event_source_url: r.event_source_url ?? "",
    test_event_code: r.test_event_code ?? "",
    base_url: r.base_url ?? "",
  };
}

/** The PATCH of an edit: only what changed; secrets only when a new one was typed. */
export function editBody(v: Values, r: Destination): Values {
  const fields = settingsFields(true).filter(
    (f) => f.name !== "events" && f.type !== "checkbox" && f.type !== "repeat",
  );
  const before = editInitial(r);
  const body = bodyOf(
    fields,
    { ...v, platform: r.platform },
    Object.fromEntries(Object.entries(before).map(([k, x]) => [k, x === "" ? null : x])),
  );
  const events = toEvents(v.events);
  if (!sameEvents(events, r.events)) body.events = events;
  if (v.remove_app_secret === true && meta({ platform: r.platform })) body.app_secret = null;
  if (v.remove_oauth === true && google({ platform: r.platform }))
    Object.assign(body, { oauth_client: null, oauth_client_secret: null, oauth_refresh_token: null });
  return body;
}

function TestResult(p: { name: string; result: Tested | Error; onClose: () => void }) {
  const r = p.result;
  return (
    <Card class="test-result" title={`Send test: ${p.name}`}>
      {r instanceof Error ? (
        <p class="error" id="destination-test-error">
          {r.message}
        </p>
      ) : (
        <>
          <p>
            <Badge value={r.outcome} />{" "}
            {r.outcome === "delivered"
              ? "The platform accepted the credentials and the event (in its test mode)."
              : r.outcome === "failed"
                ? "The platform refused it: its answer says why."
                : r.outcome === "refused"
                  ? "Not sent: the address is not allowed (SSRF guard)."
                  : "No answer from the platform."}
          </p>
          <div class="grid two">
            <div>
              <h3>Request</h3>
              <p>
                <code class="wrap">{`${r.request.method} ${r.request.url}`}</code>
              </p>
              <pre id="test-request-body">{pretty(r.request.body)}</pre>
            </div>
            <div>
              <h3>Answer</h3>
              <p>{r.response ? `HTTP ${r.response.status} in ${r.latency_ms} ms` : (r.error ?? "none")}</p>
              {r.response ? <pre id="test-response-body">{pretty(r.response.body)}</pre> : null}
              {r.error && r.response ? <p class="muted">{r.error}</p> : null}
            </div>
          </div>
          <p class="muted">The token is added as the request leaves; it is never shown or stored with it.</p>
        </>
      )}
      <button type="button" class="secondary" onClick={p.onClose}>
        Close
      </button>
    </Card>
  );
}

function pretty(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

/** One destination's forwards: each conversion it forwarded (or skipped, and why) and its attempts. */
function Forwards(p: { destination: Destination; me: PageProps["me"]; onClose: () => void }) {
  const [open, setOpen] = useState<string | null>(null);
  const d = p.destination;
  return (
    <Card title={`Forwards to ${d.name}`}>
      <p class="muted">
        Every conversion forwarded to {platformName(d.platform)} {d.platform_account}, once per conversion.
        Skipped ones were not sent (too old for the platform, no click ID to match): the reason says which.{" "}
        <a href={href("deliveries", { destination_id: d.id })}>Open in Outbound postbacks</a>
      </p>
      {open ? <Attempts id={open} onClose={() => setOpen(null)} /> : null}
      <DataTable
        path={`/v1/deliveries?destination_id=${d.id}`}
        caption={`Forwards to ${d.name}`}
        csvName={`forwards-${d.id}`}
        server={{ search: true, sort: ["created_at", "next_attempt_at", "attempts", "status"] }}
        filters={[
          {
            name: "status",
            label: "Status",
            options: opts("pending", "delivered", "failed", "dead", "skipped"),
          },
        ]}
        empty="Nothing forwarded yet: a conversion of a mapped event is forwarded once it is booked."
        columns={[
          timeColumn("created_at", "Planned"),
          {
            key: "conversion_id",
            label: "Conversion",
            render: (r) => (
              <a href={href("trace", { conversion_id: String(r.conversion_id) })}>
                {String(r.conversion_id)}
              </a>
            ),
          },
          {
            key: "platform_event_id",
            label: "Event ID",
            render: (r) => <code>{String(r.platform_event_id ?? "")}</code>,
          },
          statusColumn(),
          { key: "attempts", numeric: true },
          timeColumn("delivered_at", "Delivered"),
          {
            key: "last_error",
            label: "Reason or last error",
            render: (r) => (r.last_error ? <span class="wrap">{String(r.last_error)}</span> : ""),
          },
        ]}
        actions={(r, reload) => (
          <>
            <button type="button" class="secondary" onClick={() => setOpen(String(r.id))}>
              Attempts
            </button>
            {canWrite(p.me) && replayable(r.status) ? (
              <button
                type="button"
                onClick={async () => {
                  try {
                    await api("POST", `/v1/deliveries/${r.id}/replay`);
                    toast(`forward ${r.id} queued again`);
                    reload();
                  } catch (err) {
                    toast((err as Error).message);
                  }
                }}
              >
                Replay
              </button>
            ) : null}
          </>
        )}
      />
      <button type="button" class="secondary" onClick={p.onClose}>
        Close
      </button>
    </Card>
  );
}

export function ConversionDestinationsPage({ me, route }: PageProps) {
  const all = useNames();
  const writer = canWrite(me);
  const [tested, setTested] = useState<{ name: string; result: Tested | Error } | null>(null);
  const [testing, setTesting] = useState<string | null>(null);
  const [forwards, setForwards] = useState<Destination | null>(null);
  const createFields: Field[] = [
    kindField(all, "brand", "brand_id", "Brand", { required: true }),
    {
      name: "offer_id",
      label: "Offer",
      type: "select",
      options: optionsOf(all, "offer"),
      empty: "every offer of the brand",
      help: "an offer's own destination wins over the brand's for the same account",
    },
    { name: "platform", label: "Platform", type: "select", required: true, options: PLATFORMS },
    ...settingsFields(false),
  ];
  const setStatus = (r: Destination, status: "active" | "disabled", reload: () => void) => async () => {
    try {
      await api("PATCH", `/v1/conversion-destinations/${r.id}`, { status });
      toast(status === "active" ? `${r.name} enabled` : `${r.name} paused`);
      reload();
    } catch (err) {
      toast((err as Error).message);
    }
  };
  const sendTest = (r: Destination) => async () => {
    setTesting(r.id);
    try {
      const result = await api<Tested>("POST", `/v1/conversion-destinations/${r.id}/test`);
      setTested({ name: r.name, result });
    } catch (err) {
      setTested({ name: r.name, result: err as Error });
    } finally {
      setTesting(null);
    }
  };
  return (
    <ResourcePage<Destination>
      me={me}
      openId={route.params.get("id")}
      title="Conversions API"
      noun="destination"
      path="/v1/conversion-destinations"
      csvName="conversion-destinations"
      global={{ brand: true }}
      initialFilters={paramsOf(route, "platform", "status")}
      filters={[
        { name: "platform", label: "Platform", options: PLATFORMS },
        { name: "status", label: "Status", options: opts("active", "disabled") },
        { name: "offer_id", label: "Offer", options: optionsOf(all, "offer") },
      ]}
      intro={
        <>
          Conversions forwarded server to server to the ad platform that bought the traffic (Meta, Google Ads,
          TikTok), so its bidding learns from the deposit or sale: once per conversion and destination,
          retried and logged like every postback. Tokens are write-only.
        </>
      }
      above={
        <>
          {tested ? <TestResult {...tested} onClose={() => setTested(null)} /> : null}
          {forwards ? <Forwards destination={forwards} me={me} onClose={() => setForwards(null)} /> : null}
        </>
      }
      columns={[
        { key: "name", render: (r) => <span title={`destination id ${r.id}`}>{r.name}</span> },
        {
          key: "platform",
          render: (r) => (
            <>
              {platformName(r.platform)}
              <br />
              <code title="platform account">{r.platform_account}</code>
              {r.login_account ? <span class="muted"> via {r.login_account}</span> : null}
            </>
          ),
          value: (r) => `${platformName(r.platform)} ${r.platform_account}`,
        },
        {
          key: "brand_id",
          label: "Forwards",
          render: (r) => (
            <>
              <Name kind="brand" id={r.brand_id} />
              {" · "}
              {r.offer_id ? <Name kind="offer" id={r.offer_id} /> : "every offer"}
            </>
          ),
          value: (r) =>
            `${all.brand.get(r.brand_id)?.name ?? r.brand_id} ${r.offer_id ? (all.offer.get(r.offer_id)?.name ?? r.offer_id) : "every offer"}`,
        },
        {
          key: "events",
          label: "Events",
          render: (r) => (
            <>
              <ul class="chips">
                {Object.entries(r.events ?? {}).map(([code, m]) => (
                  <li key={code}>
                    {code} → {m.name}
                    {m.value && m.value !== "amount"
                      ? ` (${m.value === "none" ? "no value" : "payout"})`
                      : ""}
                  </li>
                ))}
              </ul>
              <span class="muted">{r.send_on === "approved" ? "once approved" : "when booked"}</span>
            </>
          ),
          value: (r) =>
            Object.entries(r.events ?? {})
              .map(([code, m]) => `${code}→${m.name}`)
              .join(" "),
        },
        {
          key: "token_hint",
          label: "Credentials",
          render: (r) => (
            <>
              {r.oauth_client ? "OAuth " : "token "}
              <code>{r.token_hint}</code>
              <br />
              <span class="muted">
                {r.test_event_code
                  ? `test mode ${r.test_event_code}`
                  : r.platform === "google"
                    ? "tests: validateOnly"
                    : "no test code"}
              </span>
            </>
          ),
        },
        {
          key: "status",
          render: (r) => (
            <>
              <Badge value={r.status} />
              {r.disabled_reason ? <span class="muted"> ({r.disabled_reason})</span> : null}
              <br />
              <span class="muted">
                last success <Time at={r.last_success_at as string | null} />
              </span>
            </>
          ),
        },
      ]}
      create={{
        fields: createFields,
        initial: { send_on: "booked", events: [{ code: "ftd", name: "", value: "amount" }] },
        body: (v) => {
          const body = bodyOf(createFields, v);
          body.events = toEvents(v.events);
          return body;
        },
      }}
      edit={{
        fields: settingsFields(true),
        initial: editInitial,
        body: editBody,
      }}
      actions={(r, reload) => (
        <>
          <button
            type="button"
            class="secondary"
            aria-label={`Forwards of ${r.name}`}
            onClick={() => setForwards(r)}
          >
            Forwards
          </button>
          {writer ? (
            <>
              <button
                type="button"
                class="secondary"
                disabled={testing === r.id}
                aria-label={`Send test to ${r.name}`}
                title={
                  r.platform === "google"
                    ? "Sends a sample event with validateOnly: checked, never counted"
                    : "Sends a sample event with the test event code: it reaches the platform's test tool only"
                }
                onClick={sendTest(r)}
              >
                {testing === r.id ? "Sending…" : "Send test"}
              </button>
              {r.status === "active" ? (
                <button
                  type="button"
                  class="secondary"
                  aria-label={`Pause ${r.name}`}
                  onClick={setStatus(r, "disabled", reload)}
                >
                  Pause
                </button>
              ) : (
                <button
                  type="button"
                  aria-label={`Enable ${r.name}`}
                  onClick={setStatus(r, "active", reload)}
                >
                  Enable
                </button>
              )}
            </>
          ) : null}
        </>
      )}
    />
  );
}
