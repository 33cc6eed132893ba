import { api, type Paged } from "./api.ts";
import type { Me } from "./session.ts";
import { createStore, useStore } from "./store.ts";

/** Names of the things ids point at, so lists show "Welcome bonus", not "7". */
export type Kind =
  | "brand"
  | "advertiser"
  | "offer"
  | "affiliate"
  | "link"
  | "template"
  | "destination"
  | "webhook";
export type Named = { id: string; name: string; brand_id?: string; currency?: string; [k: string]: unknown };
export type Names = Record<Kind, Map<string, Named>>;

const empty = (): Names => ({
  brand: new Map(),
  advertiser: new Map(),
  offer: new Map(),
  affiliate: new Map(),
  link: new Map(),
  template: new Map(),
  destination: new Map(),
  webhook: new Map(),
});
export const names = createStore<Names>(empty());

const SOURCES: {
  kind: Kind;
  path: string;
  staffOnly: boolean;
  name: (r: Record<string, unknown>) => string;
}[] = [
  { kind: "brand", path: "/v1/brands?limit=500", staffOnly: true, name: (r) => String(r.name) },
  { kind: "advertiser", path: "/v1/advertisers?limit=500", staffOnly: true, name: (r) => String(r.name) },
  { kind: "offer", path: "/v1/offers?limit=500", staffOnly: false, name: (r) => String(r.name) },
  { kind: "affiliate", path: "/v1/affiliates?limit=500", staffOnly: true, name: (r) => String(r.name) },
  { kind: "link", path: "/v1/links?limit=500", staffOnly: false, name: (r) => String(r.code) },
  // Where forwards and operator events go (the deliveries list names them): staff only.
  {
    kind: "destination",
    path: "/v1/conversion-destinations?limit=500",
    staffOnly: true,
    name: (r) => String(r.name),
  },
  { kind: "webhook", path: "/v1/operator-webhooks?limit=500", staffOnly: true, name: (r) => String(r.name) },
];

/** Loads every name the signed-in role may read; called after sign-in and after a change. */
export async function loadNames(me: Me): Promise<void> {
  const next = empty();
  const staff = me.role !== "affiliate";
  await Promise.all(
    SOURCES.filter((s) => staff || !s.staffOnly).map(async (s) => {
      const page = await api<Paged<Record<string, unknown>>>("GET", s.path).catch(() => ({ data: [] }));
      for (const r of page.data) next[s.kind].set(String(r.id), { ...r, id: String(r.id), name: s.name(r) });
    }),
  );
  if (!staff && me.affiliateId) {
    const own = await api<Record<string, unknown>>("GET", `/v1/affiliates/${me.affiliateId}`).catch(
      () => null,
    );
    if (own) next.affiliate.set(me.affiliateId, { ...own, id: me.affiliateId, name: String(own.name) });
  }
  names.set(next);
}

export function useNames(): Names {
  return useStore(names);
}

/** Options for a select of one kind, by name. */
export function optionsOf(
  all: Names,
  kind: Kind,
  filter?: (n: Named) => boolean,
): { value: string; label: string }[] {
  return [...all[kind].values()]
    .filter((n) => !filter || filter(n))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((n) => ({ value: n.id, label: n.name }));
}
