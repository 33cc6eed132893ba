/** A real HTTP server standing in for an affiliate's postback endpoint; records every request. */
export type ReceivedPostback = { method: string; url: URL; headers: Headers; body: string; at: number };

export function startAffiliateEndpoint(
  respond: (req: Request, n: number) => Response | Promise<Response> = () => new Response("ok"),
) {
  const received: ReceivedPostback[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const body = await req.text();
      received.push({
        method: req.method,
        url: new URL(req.url),
        headers: req.headers,
        body,
        at: Date.now(),
      });
      return respond(req, received.length);
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    received,
    stop: () => server.stop(true),
  };
}
