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
  /** Whether spans are exported: native routes start none, so they are only used while it is off. */
  tracing: boolean;
};

export type Served = { server: ReturnType<typeof Bun.serve>; app: AnyElysia; url: string };

/**
 * The HTTP side of a service process, composed in one place for the deployed entry
 * (`runService`) and for service tests alike: the observability plugin, the service's app, its
 * native routes and Bun's options. A test that fetches the returned `url` exercises exactly what
 * production serves, including what only a real server provides (the socket's address).
 */
export function serveService(
  parts: { app: AnyElysia; routes?: Record<string, NativeRoute> },
  options: ServeOptions,
): Served {
  // The observability plugin goes first: Elysia applies hooks only to routes registered after them.
  const app = new Elysia()
    .use(
      observability({
        registry: options.registry,
        draining: options.draining,
        checks: options.checks,
        tracing: options.tracing,
      }),
    )
    .use(parts.app);
  const server = Bun.serve({
    port: options.port,
    fetch: app.fetch,
    ...(parts.routes && !options.tracing ? { routes: parts.routes as never } : {}),
    maxRequestBodySize: MAX_REQUEST_BODY_BYTES,
  });
  // Elysia hands `server` to handlers only when it started the server itself (`app.listen`);
  // without this every `server.requestIP` in a handler would be null in production.
  app.server = server;
  return { server, app, url: `http://127.0.0.1:${server.port}` };
}
