import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { money, pct, time } from "../format.ts";
import { type Kind, useNames } from "../names.ts";
import { href } from "../route.ts";
import { createStore, useStore } from "../store.ts";

export function Page(props: {
  title: string;
  intro?: ComponentChildren;
  actions?: ComponentChildren;
  children?: ComponentChildren;
}) {
  return (
    <section class="page" aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title">{props.title}</h1>
        {props.actions ? <div class="page-actions">{props.actions}</div> : null}
      </div>
      {props.intro ? <p class="muted">{props.intro}</p> : null}
      {props.children}
    </section>
  );
}

export const Money = (p: {
  amount: string | number | null | undefined;
  currency: string | null | undefined;
}) => <span class="num">{money(p.amount, p.currency)}</span>;
export const Pct = (p: { value: string | number | null | undefined }) => (
  <span class="num">{pct(p.value)}</span>
);
export const Time = (p: { at: string | null | undefined }) =>
  p.at ? <time dateTime={p.at}>{time(p.at)}</time> : <span class="muted">—</span>;

const TONES: Record<string, string> = {
  active: "ok",
  approved: "ok",
  delivered: "ok",
  passed: "ok",
  accepted: "ok",
  created: "ok",
  paused: "warn",
  pending: "warn",
  running: "warn",
  duplicate: "warn",
  held: "warn",
  flagged: "warn",
  disabled: "bad",
  failed: "bad",
  dead: "bad",
  rejected: "bad",
  reversed: "bad",
  blocked: "bad",
  archived: "muted",
  skipped: "muted",
};
export const Badge = (p: { value: string | null | undefined }) =>
  p.value ? (
    <span class={`badge ${TONES[p.value] ?? ""}`}>{p.value.replaceAll("_", " ")}</span>
  ) : (
    <span class="muted">—</span>
  );

/** A value with a copy button (ids, URLs, secrets shown once). */
export function Copy(p: { text: string; label?: string; show?: boolean }) {
  const [done, setDone] = useState(false);
  return (
    <span class="copy">
      {p.show === false ? null : <code>{p.text}</code>}
      <button
        type="button"
        class="ghost"
        aria-label={`Copy ${p.label ?? p.text}`}
        onClick={() => {
          void navigator.clipboard?.writeText(p.text).catch(() => undefined);
          setDone(true);
          setTimeout(() => setDone(false), 1200);
        }}
      >
        {done ? "Copied" : "Copy"}
      </button>
    </span>
  );
}

const PAGES: Partial<Record<Kind, string>> = {
  brand: "brands",
  advertiser: "advertisers",
  offer: "offers",
  affiliate: "affiliates",
  link: "links",
  destination: "conversion-destinations",
  webhook: "operator-webhooks",
};

/** A thing's name, its id on hover; links to its page when there is one. */
export function Name(p: { kind: Kind; id: string | number | null | undefined; link?: boolean }) {
  const all = useNames();
  if (p.id === null || p.id === undefined || p.id === "") return <span class="muted">—</span>;
  const id = String(p.id);
  const found = all[p.kind].get(id);
  const text = found?.name ?? `${p.kind} #${id}`;
  const page = PAGES[p.kind];
  const title = `${p.kind} id ${id}`;
  return page && p.link !== false ? (
    <a class="name" href={href(page, { id })} title={title} data-id={id}>
      {text}
    </a>
  ) : (
    <span class="name" title={title} data-id={id}>
      {text}
    </span>
  );
}

export function ErrorBox(p: { error: Error | undefined | null }) {
  if (!p.error) return null;
  return (
    <p class="error" role="alert">
      {p.error.message}
    </p>
  );
}

export function Loading() {
  return (
    <p class="muted" aria-busy="true">
      Loading…
    </p>
  );
}

export function Card(p: { title?: string; children?: ComponentChildren; class?: string }) {
  return (
    <div class={`card ${p.class ?? ""}`}>
      {p.title ? <h2>{p.title}</h2> : null}
      {p.children}
    </div>
  );
}

/** Key/value pairs; empty values are left out, never shown as "null". */
export function Facts(p: { items: [string, ComponentChildren][] }) {
  return (
    <dl class="facts">
      {p.items
        .filter(([, v]) => v !== null && v !== undefined && v !== "")
        .map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
    </dl>
  );
}

const toasts = createStore<string | null>(null);
let toastTimer: ReturnType<typeof setTimeout> | undefined;
export function toast(message: string): void {
  toasts.set(message);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toasts.set(null), 4000);
}
export function Toast() {
  const message = useStore(toasts);
  return (
    <div id="toast" role="status" aria-live="polite" class={message ? "show" : ""}>
      {message ?? ""}
    </div>
  );
}

/** A table head of plain column names. */
export function Head(p: { cols: string[] }) {
  return (
    <thead>
      <tr>
        {p.cols.map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}
