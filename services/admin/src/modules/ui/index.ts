import { join } from "node:path";
import { Elysia, t } from "elysia";
import { type BuiltFile, bundleConsole } from "./bundle.ts";

export const UI_DIR = join(import.meta.dir, "..", "..", "..", "ui");

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
};
// The console loads nothing from elsewhere; the API key lives in sessionStorage, so no script
// from another origin may run here. Styles set from script (uPlot sizes its canvas) are CSSOM,
// which style-src does not restrict.
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};
const NOT_FOUND = { error: { code: "not_found", message: "no such file" } } as const;

function serve(file: string): Response {
  const ext = file.split(".").pop() ?? "";
  return new Response(Bun.file(join(UI_DIR, file)), {
    headers: { "content-type": TYPES[ext] ?? "application/octet-stream", ...SECURITY_HEADERS },
  });
}

/**
 * The web console: index.html, the bundle built from ui/src when admin starts (main.js, main.css)
 * and the few static files beside it (the demo landing page's script).
 */
export function ui(bundle: () => Promise<Map<string, BuiltFile>> = memo(() => bundleConsole(UI_DIR))) {
  return (
    new Elysia({ name: "ui", tags: ["ui"] })
      .get("/", ({ redirect }) => redirect("/ui/"), { detail: { hide: true } })
      // "/ui" and "/ui/" are one route to Elysia (loose paths); index.html uses absolute URLs.
      .get("/ui/", () => serve("index.html"), { detail: { hide: true } })
      .get(
        "/ui/:file",
        async ({ params, status }) => {
          // A fixed set of names: nothing outside the ui folder can be asked for.
          if (!/^[a-z0-9-]+\.(html|js|css|svg)$/.test(params.file)) return status(404, NOT_FOUND);
          const built = (await bundle()).get(params.file);
          if (built)
            return new Response(built.body, { headers: { "content-type": built.type, ...SECURITY_HEADERS } });
          return (await Bun.file(join(UI_DIR, params.file)).exists())
            ? serve(params.file)
            : status(404, NOT_FOUND);
        },
        { params: t.Object({ file: t.String({ maxLength: 64 }) }), detail: { hide: true } },
      )
  );
}

/** Builds once, on first use, and keeps the result (a failed build is retried on the next request). */
function memo<T>(make: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | null = null;
  return () => {
    pending ??= make().catch((err) => {
      pending = null;
      throw err;
    });
    return pending;
  };
}
