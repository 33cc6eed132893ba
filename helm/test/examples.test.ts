// helm/examples: the values docs/scaling.md sizes for 10k clicks/s and 1k postbacks/s render, lint
// and validate, and say what the document says (R3, HPAs, the connection budget); the NATS values
// for the official chart keep R3's three servers and fsync before ack.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { byKind, find, type K8sObject, lint, REPO, render, SERVICES } from "./helm.ts";
import { validateAll } from "./k8s.ts";

const SCALE = join(REPO, "helm", "examples", "scale-10k.yaml");
const NATS = join(REPO, "helm", "examples", "nats-r3.yaml");
/** docs/scaling.md: PostgreSQL max_connections for this size (or a pooler in front). */
const MAX_CONNECTIONS = 500;

const objects = render({ valuesFiles: [SCALE] });
const envOf = (o: K8sObject, name: string): string | undefined =>
  (o.spec.template.spec.containers[0].env as { name: string; value?: string }[]).find((e) => e.name === name)
    ?.value;

describe("helm/examples/scale-10k.yaml", () => {
  test("lints and renders valid Kubernetes objects", async () => {
    const r = lint({ valuesFiles: [SCALE] });
    expect(r.stderr + r.stdout).toContain("0 chart(s) failed");
    expect(await validateAll(objects)).toEqual([]);
  });

  test("every service and the provisioning job run with R3 streams", () => {
    for (const s of SERVICES)
      expect(envOf(find(objects, "Deployment", `rt-roundtrip-${s}`), "BUS_REPLICAS")).toBe("3");
    const provision = byKind(objects, "Job").find((j) => j.metadata.name.endsWith("provision"));
    expect(provision && envOf(provision, "BUS_REPLICAS")).toBe("3");
  });

  test("an HPA per service with the documented floors; attribution also scales on its click backlog", () => {
    const hpa = (s: string) => find(objects, "HorizontalPodAutoscaler", `rt-roundtrip-${s}`).spec;
    expect(Object.fromEntries(SERVICES.map((s) => [s, [hpa(s).minReplicas, hpa(s).maxReplicas]]))).toEqual({
      admin: [4, 8],
      click: [4, 8],
      gateway: [4, 8],
      attribution: [4, 12],
      commission: [4, 8],
      delivery: [3, 6],
    });
    const external = hpa("attribution").metrics.find((m: K8sObject) => m.type === "External");
    expect(external.external.metric).toEqual({
      name: "roundtrip_bus_consumer_pending_messages",
      selector: { matchLabels: { consumer: "attribution-clicks" } },
    });
    for (const s of SERVICES)
      expect(find(objects, "Deployment", `rt-roundtrip-${s}`).spec.replicas).toBeUndefined();
  });

  test("at every HPA's ceiling the connection pools and hook jobs fit PostgreSQL's max_connections", () => {
    const poolMax = Number(envOf(find(objects, "Deployment", "rt-roundtrip-click"), "DATABASE_POOL_MAX"));
    const ceiling = byKind(objects, "HorizontalPodAutoscaler").reduce((n, h) => n + h.spec.maxReplicas, 0);
    const jobs = byKind(objects, "Job").length * poolMax;
    expect(ceiling * poolMax + jobs).toBeLessThanOrEqual(MAX_CONNECTIONS);
  });
});

describe("helm/examples/nats-r3.yaml (the official NATS chart)", () => {
  test("three JetStream servers, fsync before ack, spread over zones", () => {
    const v = parse(readFileSync(NATS, "utf8"));
    expect(v.config.cluster).toMatchObject({ enabled: true, replicas: 3 });
    expect(v.config.jetstream.enabled).toBe(true);
    expect(v.config.jetstream.merge.sync_interval).toBe("always");
    expect(Object.keys(v.podTemplate.topologySpreadConstraints)).toEqual(["topology.kubernetes.io/zone"]);
  });
});
