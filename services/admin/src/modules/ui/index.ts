import { join } from "node:path";
import { Elysia, t } from "elysia";

export const UI_DIR = join(import.meta.dir, "..", "..", "..", "ui");

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
};
// The console loads nothing from elsewhere; the API key lives in sessionStorage, so no script
// from another origin may run here.
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

function serve(file: string): Response {
  const ext = file.split(".").pop() ?? "";
  return new Response(Bun.file(join(UI_DIR, file)), {
    headers: { "content-type": TYPES[ext] ?? "application/octet-stream", ...SECURITY_HEADERS },
  });
}

/** The web console: static files (plain HTML, CSS and one script; no build step). */
export function ui() {
  return (
    new Elysia({ name: "ui", tags: ["ui"] })
      .get("/", ({ redirect }) => redirect("/ui/"), { detail: { hide: true } })
      // "/ui" and "/ui/" are one route to Elysia (loose paths); index.html uses absolute URLs.
      .get("/ui/", () => serve("index.html"), { detail: { hide: true } })
      .get(
        "/ui/:file",
        ({ params, status }) => {
          // A fixed set of names: nothing outside the ui folder can be asked for.
          if (!/^[a-z0-9-]+\.(html|js|css|svg)$/.test(params.file))
            return status(404, { error: { code: "not_found", message: "no such file" } });
          return Bun.file(join(UI_DIR, params.file))
            .exists()
            .then((exists) =>
              exists
                ? serve(params.file)
                : status(404, { error: { code: "not_found", message: "no such file" } }),
            );
        },
        { params: t.Object({ file: t.String({ maxLength: 64 }) }), detail: { hide: true } },
      )
  );
}
