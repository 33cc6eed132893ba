import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import type { Target } from "./ssrf.ts";

/** How our requests to partners introduce themselves. */
export const USER_AGENT = "Roundtrip-Postback/1.0";

export type OutboundRequest = {
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: string | null;
};
export type Limits = { connectTimeoutMs: number; totalTimeoutMs: number; excerptBytes: number };
export type Response = {
  status: number;
  headers: http.IncomingHttpHeaders;
  excerpt: string;
  remoteAddress: string | null;
};

/** A transport failure: no HTTP answer came back. All of these are worth a retry. */
export class SendError extends Error {
  override readonly name = "SendError";
  constructor(
    readonly code: "connect_timeout" | "timeout" | "network",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * One HTTP request to the address the SSRF guard checked: the URL's host stays in the Host
 * header and in TLS (SNI and certificate check), but the socket goes to `target.address`
 * through a pinned lookup, so DNS is not asked again. Redirects are answers like any other
 * (node:http never follows them). Two clocks: the connect timeout runs until the connection
 * (and TLS) is up; the total timeout covers everything up to the response excerpt.
 */
export function send(target: Target, request: OutboundRequest, limits: Limits): Promise<Response> {
  const { url } = target;
  const tls = url.protocol === "https:";
  return new Promise<Response>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null, value?: Response) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(totalTimer);
      if (err) reject(err);
      else resolve(value as Response);
    };
    const req = (tls ? https : http).request({
      protocol: url.protocol,
      hostname: target.host,
      port: url.port || (tls ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: request.method,
      headers: { ...request.headers, host: url.host },
      agent: false,
      // the checked address, whatever DNS would say now
      lookup: ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
        if (options?.all) callback(null, [{ address: target.address, family: target.family }]);
        else callback(null, target.address, target.family);
      }) as never,
      ...(tls && !isIP(target.host) ? { servername: target.host } : {}),
    });
    const connectTimer = setTimeout(() => {
      req.destroy(new SendError("connect_timeout", `no connection within ${limits.connectTimeoutMs} ms`));
    }, limits.connectTimeoutMs);
    const totalTimer = setTimeout(() => {
      req.destroy(new SendError("timeout", `no complete answer within ${limits.totalTimeoutMs} ms`));
    }, limits.totalTimeoutMs);
    req.on("socket", (socket) => {
      socket.once(tls ? "secureConnect" : "connect", () => clearTimeout(connectTimer));
    });
    req.on("error", (err) => {
      finish(err instanceof SendError ? err : new SendError("network", err.message, { cause: err }));
    });
    req.on("response", (res) => {
      // The answer is in; a connect timer still pending (a socket event we did not see) is moot.
      clearTimeout(connectTimer);
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        const excerpt = Buffer.concat(chunks).subarray(0, limits.excerptBytes).toString("utf8");
        finish(null, {
          status: res.statusCode ?? 0,
          headers: res.headers,
          excerpt,
          remoteAddress: res.socket?.remoteAddress ?? null,
        });
      };
      res.on("data", (chunk: Buffer) => {
        if (size >= limits.excerptBytes) return;
        chunks.push(chunk);
        size += chunk.length;
        // Enough to log: stop reading (the status is what counts).
        if (size >= limits.excerptBytes) {
          done();
          res.destroy();
        }
      });
      res.on("end", done);
      res.on("error", (err) => finish(new SendError("network", err.message, { cause: err })));
    });
    req.end(request.method === "POST" ? (request.body ?? "") : undefined);
  });
}
