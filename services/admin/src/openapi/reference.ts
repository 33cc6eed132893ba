import { dirname, join } from "node:path";
import { Elysia } from "elysia";

/**
 * The API reference at `/docs`: Scalar's standalone bundle, served from the npm package
 * (@scalar/api-reference), reading `/openapi.json` — nothing from a CDN, so it works offline and
 * under a strict content security policy.
 */
const SCALAR_BUNDLE = join(
  dirname(Bun.resolveSync("@scalar/api-reference", import.meta.dir)),
  "browser",
  "standalone.js",
);

const CONFIGURATION = JSON.stringify({
  // Scalar would fetch its fonts from its CDN; the system fonts are fine.
  withDefaultFonts: false,
  hideClientButton: true,
  telemetry: false,
});

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Roundtrip admin API reference</title>
</head>
<body>
<script id="api-reference" data-url="/openapi.json" data-configuration='${CONFIGURATION}'></script>
<script src="/docs/scalar.js"></script>
</body>
</html>`;

// Scalar styles itself inline; everything else stays on this origin.
const HEADERS = {
  "content-security-policy":
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

export function apiReference() {
  return new Elysia({ name: "api-reference" })
    .get(
      "/docs",
      () => new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8", ...HEADERS } }),
      {
        detail: { hide: true },
      },
    )
    .get(
      "/docs/scalar.js",
      () =>
        new Response(Bun.file(SCALAR_BUNDLE), {
          headers: {
            "content-type": "text/javascript; charset=utf-8",
            "cache-control": "public, max-age=3600",
            ...HEADERS,
          },
        }),
      { detail: { hide: true } },
    );
}
