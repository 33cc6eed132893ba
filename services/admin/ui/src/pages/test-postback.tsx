import { useEffect, useState } from "preact/hooks";
import { api } from "../api.ts";
import { bodyOf, type Field, Form, type Values } from "../components/form.tsx";
import { Badge, Card, ErrorBox, Facts, Page } from "../components/ui.tsx";
import { loadNames, optionsOf, useNames } from "../names.ts";
import { useApi } from "../use-api.ts";
import type { PageProps } from "./registry.ts";

type Fired = {
  click_id: string;
  txid: string;
  gateway: { status: number | null; body: unknown; error: string | null };
  watch: string;
};
type Steps = { steps: { step: string; title: string; state: string; detail: string }[]; done: boolean };

const POLL_MS = 700;

/**
 * The operator test tool (POST /v1/test-postbacks): fires a test postback for an offer's
 * advertiser through the real gateway and shows each decision as it is taken, polling the steps
 * until none waits.
 */
export function TestPostbackPage({ me }: PageProps) {
  const all = useNames();
  const [fired, setFired] = useState<Fired | null>(null);
  const [tick, setTick] = useState(0);
  const steps = useApi<Steps>(fired ? fired.watch : null, tick);
  useEffect(() => {
    if (!fired || steps.data?.done) return;
    const t = setTimeout(() => setTick((x) => x + 1), POLL_MS);
    return () => clearTimeout(t);
  }, [fired, steps.data]);
  const fields: Field[] = [
    { name: "offer_id", label: "Offer", type: "select", required: true, options: optionsOf(all, "offer") },
    {
      name: "token",
      label: "Advertiser token",
      type: "password",
      required: true,
      help: "sent with this one postback and kept nowhere",
    },
    { name: "event", label: "Event", required: true, help: "an event code of the offer, e.g. ftd" },
    { name: "amount", label: "Amount", type: "decimal" },
    {
      name: "click_id",
      label: "Click ID",
      help: "a real click's ID to follow its whole journey; empty: one is made for the tool's test link",
    },
  ];
  return (
    <Page
      title="Test postback"
      intro="Fire a postback as the advertiser would, through the real gateway, and watch each decision: the gateway's checks, the click ID, dedup, attribution, booking and the affiliate's postback."
    >
      <Card title="Fire">
        <Form
          id="test-postback"
          fields={fields}
          initial={{ event: "ftd" }}
          submit="Fire test postback"
          onSubmit={async (v: Values) => {
            setFired(await api<Fired>("POST", "/v1/test-postbacks", bodyOf(fields, v)));
            setTick(0);
            // The first test makes the tool's own affiliate and link: name them everywhere.
            void loadNames(me);
          }}
        />
      </Card>
      {fired ? (
        <Card title="What happened">
          <Facts
            items={[
              ["Click ID", <code key="c">{fired.click_id}</code>],
              ["Transaction ID", <code key="t">{fired.txid}</code>],
              [
                "Gateway answered",
                fired.gateway.status === null
                  ? (fired.gateway.error ?? "no answer")
                  : String(fired.gateway.status),
              ],
            ]}
          />
          <ErrorBox error={steps.error} />
          <ol id="steps" aria-live="polite">
            {(steps.data?.steps ?? []).map((s) => (
              <li key={s.step}>
                <Badge value={s.state} /> <strong>{s.title}</strong>: {s.detail}
              </li>
            ))}
          </ol>
          {steps.data && !steps.data.done ? <p class="muted">watching…</p> : null}
        </Card>
      ) : null}
    </Page>
  );
}
