import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { bodyOf, type Field, Form } from "../components/form.tsx";
import { Badge, Card, Copy, ErrorBox, Facts, Loading, Name, Page, Time, toast } from "../components/ui.tsx";
import { href } from "../route.ts";
import { canWrite } from "../session.ts";
import { useApi } from "../use-api.ts";
import type { PageProps } from "./registry.ts";

type Advertiser = {
  id: string;
  name: string;
  brand_id: string;
  status: string;
  token_hint: string | null;
  param_aliases: Record<string, string>;
  ip_allowlist: string[];
  rate_limit_per_second: number | null;
  pixel_enabled: boolean;
  pixel_sets_money: boolean;
  dedup_window_hours: number;
};
type Auth = {
  token: boolean;
  signature: {
    enabled: boolean;
    header: string;
    keys: { id: string; created_at: string; expires_at: string | null }[];
  };
  ip_allowlist: boolean;
  pixel: boolean;
};
type Guide = {
  postback_url: string;
  brand_postback_url?: string;
  parameters: { name: string; your_name: string; required?: boolean | string; description?: string }[];
  responses: { status: number; meaning: string }[];
};

/**
 * One advertiser's integration: the postback URL and guide for its developers, and every setting
 * the gateway checks — token (rotate), signing secrets (issue, rotate with grace, stop), IP
 * allowlist, parameter aliases, rate limit, pixel and dedup window.
 */
export function AdvertiserPage({ me, route }: PageProps) {
  const id = route.params.get("id") ?? "";
  const [version, setVersion] = useState(0);
  const [secret, setSecret] = useState<{ label: string; value: string } | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const ad = useApi<Advertiser>(id ? `/v1/advertisers/${id}` : null, version);
  const auth = useApi<Auth>(id ? `/v1/advertisers/${id}/auth` : null, version);
  const guide = useApi<Guide>(id ? `/v1/advertisers/${id}/postback-guide` : null, version);
  const writer = canWrite(me);
  const act = async (
    what: string,
    run: () => Promise<{ token?: string; signing_secret?: string } | undefined>,
  ) => {
    setError(null);
    try {
      const r = await run();
      if (r?.token) setSecret({ label: "New postback token", value: r.token });
      if (r?.signing_secret) setSecret({ label: "New signing secret", value: r.signing_secret });
      toast(what);
      setVersion((v) => v + 1);
    } catch (err) {
      setError(err as Error);
    }
  };
  if (!id)
    return <Page title="Advertiser integration" intro="Open an advertiser from the Advertisers page." />;
  const a = ad.data;
  const settings: Field[] = [
    {
      name: "ip_allowlist",
      label: "IP allowlist (one address or CIDR a line; empty = any)",
      type: "lines",
      placeholder: "203.0.113.0/24",
    },
    {
      name: "param_aliases",
      label: "Parameter aliases",
      type: "pairs",
      keyLabel: "Their parameter",
      valueLabel: "Our parameter",
      valueOptions: (guide.data?.parameters ?? []).map((x) => ({ value: x.name, label: x.name })),
    },
    {
      name: "rate_limit_per_second",
      label: "Rate limit (requests/s, empty = default)",
      type: "number",
      min: 1,
    },
    { name: "dedup_window_hours", label: "Dedup window (hours)", type: "number", min: 1 },
    { name: "pixel_enabled", label: "Accept pixel conversions", type: "checkbox" },
    { name: "pixel_sets_money", label: "Pixel may set amounts", type: "checkbox" },
  ];
  const initial = a
    ? {
        ip_allowlist: a.ip_allowlist,
        param_aliases: a.param_aliases,
        rate_limit_per_second: a.rate_limit_per_second ?? "",
        dedup_window_hours: a.dedup_window_hours,
        pixel_enabled: a.pixel_enabled,
        pixel_sets_money: a.pixel_sets_money,
      }
    : {};
  return (
    <Page
      title={a ? `${a.name}: integration` : "Advertiser integration"}
      intro={<a href={href("advertisers")}>All advertisers</a>}
    >
      <ErrorBox error={ad.error ?? error} />
      {secret ? (
        <Card class="notice" title={`${secret.label} (shown once)`}>
          <Copy text={secret.value} label={secret.label} />
          <p class="muted">Only a hash is kept: copy it now and send it to the advertiser's developers.</p>
          <button type="button" class="secondary" onClick={() => setSecret(null)}>
            Done
          </button>
        </Card>
      ) : null}
      {!a ? (
        <Loading />
      ) : (
        <>
          <Card title="Overview">
            <Facts
              items={[
                ["Brand", <Name key="b" kind="brand" id={a.brand_id} link={false} />],
                ["Status", <Badge key="s" value={a.status} />],
                ["Token", a.token_hint ? <code key="t">…{a.token_hint}</code> : "none"],
                [
                  "Signature",
                  auth.data?.signature.enabled ? `required (${auth.data.signature.header})` : "not required",
                ],
                ["IP allowlist", a.ip_allowlist.length ? a.ip_allowlist.join(", ") : "any address"],
                ["Rate limit", a.rate_limit_per_second ? `${a.rate_limit_per_second}/s` : "default"],
                [
                  "Offers",
                  <a key="o" href={href("offers", { advertiser_id: a.id })}>
                    See offers
                  </a>,
                ],
              ]}
            />
          </Card>
          {guide.data ? (
            <Card title="Postback URL" class="guide">
              <div id="guide">
                <p>
                  <Copy text={guide.data.postback_url} label="postback URL" />
                </p>
                {guide.data.brand_postback_url ? (
                  <p>
                    Per brand: <Copy text={guide.data.brand_postback_url} label="brand postback URL" />
                  </p>
                ) : null}
                <div class="table-wrap">
                  <table>
                    <caption class="sr-only">Parameters</caption>
                    <thead>
                      <tr>
                        <th scope="col">Parameter</th>
                        <th scope="col">Their name</th>
                        <th scope="col">Meaning</th>
                      </tr>
                    </thead>
                    <tbody>
                      {guide.data.parameters.map((p) => (
                        <tr key={p.name}>
                          <td>{p.name}</td>
                          <td>
                            <code>{p.your_name}</code>
                          </td>
                          <td>{p.description ?? ""}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
                <h3>Answers</h3>
                <ul>
                  {guide.data.responses.map((r) => (
                    <li key={r.status}>
                      <code>{r.status}</code> {r.meaning}
                    </li>
                  ))}
                </ul>
              </div>
            </Card>
          ) : null}
          {writer ? (
            <>
              <Card title="Token and signing secrets">
                <p class="muted">
                  Rotating the token stops the old one at once. A new signing secret lets the previous one
                  verify for the grace period.
                </p>
                <div class="buttons">
                  <button
                    type="button"
                    onClick={() =>
                      act("token rotated", () => api("POST", `/v1/advertisers/${a.id}/rotate-token`))
                    }
                  >
                    Rotate token
                  </button>
                  <button
                    type="button"
                    onClick={() =>
                      act("signing secret issued", () =>
                        api("POST", `/v1/advertisers/${a.id}/signing-secret`, { grace_hours: 24 }),
                      )
                    }
                  >
                    {auth.data?.signature.enabled ? "Rotate signing secret" : "Require signatures"}
                  </button>
                  {auth.data?.signature.enabled ? (
                    <button
                      type="button"
                      class="secondary"
                      onClick={() =>
                        act("signatures no longer required", () =>
                          api("DELETE", `/v1/advertisers/${a.id}/signing-secret`),
                        )
                      }
                    >
                      Stop requiring signatures
                    </button>
                  ) : null}
                  {auth.data?.token ? (
                    <button
                      type="button"
                      class="secondary"
                      onClick={() =>
                        act("token check off", () => api("DELETE", `/v1/advertisers/${a.id}/token`))
                      }
                    >
                      Turn the token check off
                    </button>
                  ) : null}
                </div>
                {auth.data?.signature.keys.length ? (
                  <ul>
                    {auth.data.signature.keys.map((k) => (
                      <li key={k.id}>
                        secret {k.id}: since <Time at={k.created_at} />
                        {k.expires_at ? (
                          <>
                            , verifies until <Time at={k.expires_at} />
                          </>
                        ) : null}
                      </li>
                    ))}
                  </ul>
                ) : null}
              </Card>
              <Card title="Settings">
                <Form
                  key={`${a.id}:${version}`}
                  fields={settings}
                  initial={initial}
                  resetOnSuccess={false}
                  submit="Save settings"
                  onSubmit={async (v) => {
                    const body = bodyOf(settings, v, initial);
                    if (Object.keys(body).length) await api("PATCH", `/v1/advertisers/${a.id}`, body);
                    toast("settings saved");
                    setVersion((x) => x + 1);
                  }}
                />
              </Card>
            </>
          ) : null}
        </>
      )}
    </Page>
  );
}
