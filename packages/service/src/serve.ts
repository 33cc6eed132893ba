import { observability, type ReadinessChecks, type Registry } from "@roundtrip/telemetry";
import { type AnyElysia, Elysia } from "elysia";

/** Bun's server as the handlers see it: enough to read the socket's address. */
export type SocketServer = { requestIP(request: Request): { address: string } | null };

export type NativeRoute = (
  request: Request & { params: Record<string, string> },
  server: SocketServer,
) => Response | Promise<Response>;

/** Largest request body Bun accepts before any handler runs; services set tighter limits of their own. */
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024 * 8;

export type ServeOptions = {
  /** 0 picks a free port (tests). */
  port: number;
  registry: Registry;
  /** What `/readyz` asks. */
  checks: ReadinessChecks;
  /** While true `/readyz` answers 503 (the SIGTERM drain). */
  draining: () => boolean;
  /** Why the service cannot work right now (cheap, in memory); any makes `/readyz` 503 with them. */
  reasons?: () => string[];
  /** What the service works around (cheap, in memory): listed in `/readyz` as degraded, still 200. */
  degraded?: () => string[];
  /** Whether spans are exported: native routes start none, so they are only used while it is off. */
  tracing: boolean;
};

export type Served = {
  server: ReturnType<typeof Bun.serve>;
  /** The app the server runs now. */
  readonly app: AnyElysia;
  url: string;
  /**
   * Swaps what the server runs without closing its socket: a process serves `/healthz` and an
   * unready `/readyz` while it waits for its dependencies, then the whole service.
   */
  replace(parts: ServedParts, changes?: Partial<Pick<ServeOptions, "checks" | "reasons" | "degraded">>): void;
};

type ServedParts = { app: AnyElysia; routes?: Record<string, NativeRoute> };

/**
 * The HTTP side of a service process, composed in one place for the deployed entry
 * (`runService`) and for service tests alike: the observability plugin, the service's app, its
 * native routes and Bun's options. A test that fetches the returned `url` exercises exactly what
 * production serves, including what only a real server provides (the socket's address).
 */
export function serveService(parts: ServedParts, options: ServeOptions): Served {
  let app = compose(parts, options);
  const server = Bun.serve({
    port: options.port,
    fetch: app.fetch,
    ...nativeRoutes(parts, options),
    maxRequestBodySize: MAX_REQUEST_BODY_BYTES,
  });
  // Elysia hands `server` to handlers only when it started the server itself (`app.listen`);
  // without this every `server.requestIP` in a handler would be null in production.
  app.server = server;
  return {
    server,
    get app() {
      return app;
    },
    url: `http://127.0.0.1:${server.port}`,
    replace(next, changes) {
      const merged = { ...options, ...changes };
      app = compose(next, merged);
      app.server = server;
      server.reload({ fetch: app.fetch, ...nativeRoutes(next, merged) } as never);
    },
  };
}

function compose(parts: ServedParts, options: ServeOptions): AnyElysia {
  // The observability plugin goes first: Elysia applies hooks only to routes registered after them.
  return new Elysia()
    .use(
      observability({
        registry: options.registry,
        draining: options.draining,
        checks: options.checks,
        reasons: options.reasons,
        degraded: options.degraded,
        tracing: options.tracing,
      }),
    )
    .use(parts.app);
}

function nativeRoutes(parts: ServedParts, options: ServeOptions) {
  return parts.routes && !options.tracing ? { routes: parts.routes as never } : {};
}
