import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { type Field, Form, type Values } from "../components/form.tsx";
import { Card, ErrorBox, Facts, Head, Loading, Name, Page, toast } from "../components/ui.tsx";
import { pct } from "../format.ts";
import { optionsOf, useNames } from "../names.ts";
import { href } from "../route.ts";
import { canWrite } from "../session.ts";
import { useApi } from "../use-api.ts";
import type { PageProps } from "./registry.ts";

/** GET /v1/links/{id}/routing (docs/routing.md). */
type Destination = { id: string; offer_id: string; link_id: string; weight: number };
type Conditions = {
  countries?: string[];
  device_types?: string[];
  os?: string[];
  languages?: string[];
  hours?: { from: string; to: string };
  weekdays?: string[];
};
type Routing = {
  link_id: string;
  timezone: string;
  rules: { id: string; name: string | null; when: Conditions; destinations: Destination[] }[];
  fallback: { id: string; destinations: Destination[] } | null;
  updated_at: string | null;
};
type Link = { id: string; code: string; offer_id: string; affiliate_id: string };

const LISTS = ["countries", "device_types", "os", "languages", "weekdays"] as const;
const LIST_WORDS: Record<(typeof LISTS)[number], string> = {
  countries: "country",
  device_types: "device",
  os: "OS",
  languages: "language",
  weekdays: "day",
};

/** A rule's conditions in words: "country GB, IE · device mobile · 18:00–23:00". */
function conditions(c: Conditions): string {
  const parts = LISTS.filter((k) => c[k]?.length).map((k) => `${LIST_WORDS[k]} ${c[k]?.join(", ")}`);
  if (c.hours) parts.push(`${c.hours.from}–${c.hours.to}`);
  return parts.length ? parts.join(" · ") : "every click";
}

function Destinations(p: { list: Destination[] }) {
  const total = p.list.reduce((s, d) => s + d.weight, 0);
  return (
    <ul class="plain">
      {p.list.map((d) => (
        <li key={d.id}>
          <Name kind="offer" id={d.offer_id} /> <span class="muted">{pct(total ? d.weight / total : 0)}</span>
        </li>
      ))}
    </ul>
  );
}

const split = (v: unknown) =>
  String(v ?? "")
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);

/** The form's values as the PUT body: lists split at commas, empty conditions left out. */
function bodyFrom(v: Values): Record<string, unknown> {
  const dests = (rows: unknown) =>
    (Array.isArray(rows) ? (rows as Values[]) : [])
      .filter((d) => d.offer_id)
      .map((d) => ({ offer_id: String(d.offer_id), weight: d.weight ? Number(d.weight) : 1 }));
  const rules = (Array.isArray(v.rules) ? (v.rules as Values[]) : []).map((r) => {
    const when: Record<string, unknown> = {};
    for (const k of LISTS) {
      const list = split(r[k]);
      if (list.length) when[k] = k === "countries" ? list.map((x) => x.toUpperCase()) : list;
    }
    if (r.hours_from || r.hours_to)
      when.hours = { from: String(r.hours_from ?? ""), to: String(r.hours_to ?? "") };
    return {
      ...(r.name ? { name: String(r.name) } : {}),
      ...(Object.keys(when).length ? { when } : {}),
      destinations: dests(r.destinations),
    };
  });
  const fallback = dests(v.fallback);
  return { rules, ...(fallback.length ? { fallback } : {}) };
}

function valuesOf(r: Routing): Values {
  const dests = (list: Destination[]) =>
    list.map((d) => ({ offer_id: d.offer_id, weight: String(d.weight) }));
  return {
    rules: r.rules.map((rule) => ({
      name: rule.name ?? "",
      ...Object.fromEntries(LISTS.map((k) => [k, (rule.when[k] ?? []).join(", ")])),
      hours_from: rule.when.hours?.from ?? "",
      hours_to: rule.when.hours?.to ?? "",
      destinations: dests(rule.destinations),
    })),
    fallback: r.fallback ? dests(r.fallback.destinations) : [],
  };
}

/**
 * A link's routing (smart links, docs/routing.md): rules in order — country, device, OS, browser
 * language, hours and weekdays in the brand's zone — each with weighted destination offers, and a
 * fallback. Staff read it; writers replace it as a whole (PUT) or remove it.
 */
export function LinkRoutingPage({ me, route }: PageProps) {
  const all = useNames();
  const id = route.params.get("id") ?? "";
  const [version, setVersion] = useState(0);
  const [editing, setEditing] = useState(false);
  const link = useApi<Link>(id ? `/v1/links/${id}` : null);
  const routing = useApi<Routing>(id ? `/v1/links/${id}/routing` : null, version);
  const offers = optionsOf(all, "offer");
  const destination: Field[] = [
    { name: "offer_id", label: "Offer", type: "select", options: offers, required: true },
    { name: "weight", label: "Weight", type: "number", min: 1, max: 1000, placeholder: "1" },
  ];
  const fields: Field[] = [
    {
      name: "rules",
      label: "Rules (the first that matches serves the click)",
      type: "repeat",
      addLabel: "Add rule",
      fields: [
        { name: "name", label: "Rule name" },
        { name: "countries", label: "Countries", placeholder: "GB, IE", help: "ISO codes, comma-separated" },
        { name: "device_types", label: "Devices", placeholder: "mobile, tablet" },
        { name: "os", label: "Operating systems", placeholder: "iOS, Android" },
        { name: "languages", label: "Languages", placeholder: "de, pt-BR" },
        { name: "hours_from", label: "From (HH:MM)", pattern: "([01][0-9]|2[0-3]):[0-5][0-9]" },
        { name: "hours_to", label: "To (HH:MM)", pattern: "([01][0-9]|2[0-3]):[0-5][0-9]" },
        { name: "weekdays", label: "Weekdays", placeholder: "sat, sun" },
        {
          name: "destinations",
          label: "Destinations",
          type: "repeat",
          addLabel: "Add destination",
          fields: destination,
          min: 1,
        },
      ],
    },
    {
      name: "fallback",
      label: "Fallback (no rule matched, or its offers are paused or capped; empty: the link's own offer)",
      type: "repeat",
      addLabel: "Add fallback destination",
      fields: destination,
    },
  ];
  const r = routing.data;
  return (
    <Page
      title="Link routing"
      intro="Send each click of this link where it earns most: rules by country, device, OS, browser language and time, weights between offers, and a fallback. Clicks record the rule and destination that served them."
      actions={
        canWrite(me) && r ? (
          <>
            <button type="button" onClick={() => setEditing(!editing)} aria-expanded={editing}>
              Edit routing
            </button>
            {r.rules.length || r.fallback ? (
              <button
                type="button"
                class="secondary"
                onClick={async () => {
                  try {
                    await api("DELETE", `/v1/links/${id}/routing`);
                    toast("routing removed: clicks go to the link's own offer");
                    setVersion((x) => x + 1);
                  } catch (err) {
                    toast((err as Error).message);
                  }
                }}
              >
                Remove routing
              </button>
            ) : null}
          </>
        ) : null
      }
    >
      {!id ? (
        <p class="muted">
          Open a link's routing from the <a href={href("links")}>Links</a> page.
        </p>
      ) : null}
      <ErrorBox error={link.error ?? routing.error} />
      {link.data ? (
        <Card>
          <Facts
            items={[
              ["Link", <code key="c">{link.data.code}</code>],
              ["Offer", <Name key="o" kind="offer" id={link.data.offer_id} />],
              ["Affiliate", <Name key="a" kind="affiliate" id={link.data.affiliate_id} />],
              ["Time zone", r?.timezone],
            ]}
          />
        </Card>
      ) : null}
      {id && !r && !routing.error ? <Loading /> : null}
      {r && editing ? (
        <Card title="Edit routing">
          <Form
            id="link-routing"
            fields={fields}
            initial={valuesOf(r)}
            submit="Save routing"
            resetOnSuccess={false}
            onCancel={() => setEditing(false)}
            onSubmit={async (v) => {
              await api("PUT", `/v1/links/${id}/routing`, bodyFrom(v));
              toast("routing saved: the click service applies it within a second");
              setEditing(false);
              setVersion((x) => x + 1);
            }}
          />
        </Card>
      ) : null}
      {r ? (
        r.rules.length === 0 && !r.fallback ? (
          <p class="muted" id="routing-none">
            This link does not route: every click goes to its own offer.
          </p>
        ) : (
          <div class="table-wrap datatable">
            <table id="routing-rules">
              <caption class="sr-only">Routing rules in order</caption>
              <Head cols={["#", "Rule", "When", "Destinations"]} />
              <tbody>
                {r.rules.map((rule, i) => (
                  <tr key={rule.id}>
                    <td data-label="#">{i + 1}</td>
                    <td data-label="Rule">{rule.name ?? ""}</td>
                    <td data-label="When">{conditions(rule.when)}</td>
                    <td data-label="Destinations">
                      <Destinations list={rule.destinations} />
                    </td>
                  </tr>
                ))}
                <tr>
                  <td data-label="#">—</td>
                  <td data-label="Rule">fallback</td>
                  <td data-label="When">no rule matched, or its offers are paused or full</td>
                  <td data-label="Destinations">
                    {r.fallback ? <Destinations list={r.fallback.destinations} /> : "the link's own offer"}
                  </td>
                </tr>
              </tbody>
            </table>
          </div>
        )
      ) : null}
    </Page>
  );
}
