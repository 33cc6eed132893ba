import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api } from "./api.ts";

export type Loaded<T> = {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
};

/**
 * GET `path` when it or `version` changes (null = nothing to load yet). A response to an older path is dropped,
 * so a fast click through pages never shows one page's data on another.
 */
export function useApi<T>(path: string | null, version = 0): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({
    loading: path !== null,
  });
  const [tick, setTick] = useState(0);
  const current = useRef(0);
  useEffect(() => {
    if (path === null) return;
    const n = ++current.current;
    const abort = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    api<T>("GET", path, undefined, abort.signal).then(
      (data) => n === current.current && setState({ data, loading: false }),
      (error: Error) =>
        n === current.current && error.name !== "AbortError" && setState({ error, loading: false }),
    );
    return () => abort.abort();
  }, [path, tick, version]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** A lookup that is a POST (its input must not sit in a URL, e.g. an invitation token), once. */
export function useApiPost<T>(path: string, body: unknown): Omit<Loaded<T>, "reload"> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const key = JSON.stringify(body);
  useEffect(() => {
    const abort = new AbortController();
    api<T>("POST", path, JSON.parse(key), abort.signal).then(
      (data) => setState({ data, loading: false }),
      (error: Error) => error.name !== "AbortError" && setState({ error, loading: false }),
    );
    return () => abort.abort();
  }, [path, key]);
  return { data: state.data, error: state.error, loading: state.loading };
}
