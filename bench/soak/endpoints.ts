/**
 * The affiliates' postback endpoints of the soak: small real servers on 127.0.0.1, some healthy,
 * one slow, one failing a share of requests (delivery retries it, and its circuit may open). Each
 * records what it received (for the exactness check) and, on its first 200 for a txid, the
 * postback → affiliate postback latency from the gateway's acknowledgement.
 */
import { startAffiliateEndpoint } from "@roundtrip/e2e/support/affiliate-endpoint.ts";
import { LatencyWindow } from "./pace.ts";

export type EndpointKind =
  | { kind: "ok" }
  | { kind: "slow"; delayMs: number }
  | { kind: "failing"; share: number };

export type SoakEndpoints = {
  urls: string[];
  kinds: EndpointKind[];
  received: ReturnType<typeof startAffiliateEndpoint>["received"][];
  /** Postback → affiliate postback, per first successful delivery, since the last take(). */
  latencies: LatencyWindow;
  /**
   * The same for the healthy endpoints alone: what delivery itself adds, without the slow
   * endpoint's delay or the failing one's retry schedule (which the issue's ≤ 1 s target is about).
   */
  healthyLatencies: LatencyWindow;
  stop(): void;
};

export function describeEndpoint(e: EndpointKind): string {
  if (e.kind === "slow") return `slow (${e.delayMs} ms)`;
  if (e.kind === "failing") return `failing (${Math.round(e.share * 100)} % answered 503)`;
  return "healthy";
}

export function startSoakEndpoints(
  kinds: EndpointKind[],
  ackedAt: ReadonlyMap<string, number>,
): SoakEndpoints {
  const latencies = new LatencyWindow();
  const healthyLatencies = new LatencyWindow();
  const delivered = new Set<string>();
  const ok = (req: Request, healthy: boolean) => {
    const tx = new URL(req.url).searchParams.get("tx");
    if (tx && !delivered.has(tx)) {
      delivered.add(tx);
      const acked = ackedAt.get(tx);
      if (acked !== undefined) {
        latencies.push(Date.now() - acked);
        if (healthy) healthyLatencies.push(Date.now() - acked);
      }
    }
    return new Response("ok");
  };
  const servers = kinds.map((e) =>
    startAffiliateEndpoint(async (req) => {
      if (e.kind === "slow") await Bun.sleep(e.delayMs);
      if (e.kind === "failing" && Math.random() < e.share) return new Response("busy", { status: 503 });
      return ok(req, e.kind === "ok");
    }),
  );
  return {
    urls: servers.map((s) => s.url),
    kinds,
    received: servers.map((s) => s.received),
    latencies,
    healthyLatencies,
    stop: () => {
      for (const s of servers) s.stop();
    },
  };
}
