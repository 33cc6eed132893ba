import { Elysia, t } from "elysia";

/**
 * The demo brand's pages: a landing page that shows the click ID it received and fires real
 * postbacks at the gateway, and an affiliate endpoint that records what it receives — so a
 * newcomer sees the whole round trip on one machine.
 */
export function demo(publicGatewayUrl: string) {
  const received: { at: string; query: Record<string, string> }[] = [];
  return new Elysia({ prefix: "/demo", tags: ["demo"] })
    .get(
      "/landing",
      ({ query, set }) => {
        set.headers["content-type"] = "text/html; charset=utf-8";
        return landingPage(query.click_id ?? "", publicGatewayUrl);
      },
      {
        query: t.Object({
          click_id: t.Optional(t.String({ maxLength: 64 })),
          offer_id: t.Optional(t.String()),
        }),
      },
    )
    .get("/affiliate-postback", ({ query }) => {
      received.unshift({ at: new Date().toISOString(), query: query as Record<string, string> });
      received.length = Math.min(received.length, 100);
      return { ok: true };
    })
    .get("/affiliate-postbacks", () => ({ data: received }));
}

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );

function landingPage(clickId: string, _gateway: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Demo Casino</title></head>
<body style="font-family:system-ui;max-width:40rem;margin:3rem auto">
<h1>Demo Casino</h1>
<p>Your click ID: <code id="click-id">${escapeHtml(clickId)}</code></p>
<p>The advertiser stores this ID and sends it back in its postbacks.</p>
</body></html>`;
}
