import { useState } from "preact/hooks";
import { api, qs } from "../api.ts";
import { bodyOf, type Field, Form } from "../components/form.tsx";
import { Badge, Card, Copy, Facts, Page } from "../components/ui.tsx";
import { optionsOf, useNames } from "../names.ts";
import { isStaff } from "../session.ts";
import { useApi } from "../use-api.ts";
import type { PageProps } from "./registry.ts";

type Built = { tracking_url: string };
type Template = { id: string; url_template: string; method: string; event: string | null; status: string };
type Tested = {
  outcome: string;
  error: string | null;
  request: { method: string; url: string; body: string | null };
  response: { status: number; body: string } | null;
  latency_ms: number;
};

const SUBS = [1, 2, 3, 4, 5].map((i) => `sub${i}`);

/**
 * The affiliate's tools: the link builder (offer and sub IDs → tracking URL, GET /v1/links/build)
 * and "send test" for each postback template (POST /v1/affiliate-postbacks/{id}/test).
 */
export function PortalPage({ me }: PageProps) {
  const all = useNames();
  const staff = isStaff(me);
  const [built, setBuilt] = useState<string | null>(null);
  const [tested, setTested] = useState<Record<string, Tested>>({});
  const templates = useApi<{ data: Template[] }>("/v1/affiliate-postbacks?status=active");
  const fields: Field[] = [
    { name: "offer_id", label: "Offer", type: "select", required: true, options: optionsOf(all, "offer") },
    ...(staff
      ? [
          {
            name: "affiliate_id",
            label: "Affiliate",
            type: "select",
            required: true,
            options: optionsOf(all, "affiliate"),
          } as Field,
        ]
      : []),
    ...SUBS.map((s) => ({ name: s, label: s })),
  ];
  return (
    <Page
      title="Links and tests"
      intro="Build a tracking link with your sub IDs, and send a test to your postback URL."
    >
      <Card title="Link builder">
        <Form
          id="link-builder"
          fields={fields}
          submit="Build link"
          onSubmit={async (v) => {
            const r = await api<Built>(
              "GET",
              `/v1/links/build${qs(bodyOf(fields, v) as Record<string, string>)}`,
            );
            setBuilt(r.tracking_url);
          }}
        />
        {built ? <Copy text={built} /> : null}
      </Card>
      <Card title="Postback templates">
        <ul id="templates">
          {(templates.data?.data ?? []).map((t) => {
            const r = tested[t.id];
            return (
              <li key={t.id}>
                <code>{t.url_template}</code>{" "}
                <button
                  type="button"
                  class="secondary"
                  onClick={async () => {
                    const res = await api<Tested>("POST", `/v1/affiliate-postbacks/${t.id}/test`);
                    setTested((x) => ({ ...x, [t.id]: res }));
                  }}
                >
                  Send test
                </button>
                {r ? (
                  <div class="test-result">
                    <Badge value={r.outcome} />
                    <Facts
                      items={[
                        ["Request", `${r.request.method} ${r.request.url}`],
                        [
                          "Answer",
                          r.response ? `${r.response.status} in ${r.latency_ms} ms` : (r.error ?? ""),
                        ],
                        ["Body", r.response ? <code key="b">{r.response.body}</code> : ""],
                        ["Why", r.error ?? ""],
                      ]}
                    />
                  </div>
                ) : null}
              </li>
            );
          })}
        </ul>
        {templates.data && templates.data.data.length === 0 ? (
          <p class="muted">No active postback template.</p>
        ) : null}
      </Card>
    </Page>
  );
}
