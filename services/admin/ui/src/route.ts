import { useEffect, useState } from "preact/hooks";

/** The page and its parameters, from the hash: `#/offers?status=active`. */
export type Route = { path: string; params: URLSearchParams };

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path = "", query = ""] = hash.split("?");
  return { path: path || "dashboard", params: new URLSearchParams(query) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const on = () => setRoute(currentRoute());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

export function href(path: string, params: Record<string, string | null | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return `#/${path}${s ? `?${s}` : ""}`;
}

export function go(path: string, params: Record<string, string | null | undefined> = {}): void {
  location.hash = href(path, params);
}

/** The named parameters the address carries, for a page's initial filters (a link's filtered view). */
export function paramsOf(route: Route, ...keys: string[]): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const k of keys) {
    const v = route.params.get(k);
    if (v) out[k] = v;
  }
  return Object.keys(out).length ? out : undefined;
}
