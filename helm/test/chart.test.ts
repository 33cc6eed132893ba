// The chart: lint, render with default and all-options values, validate every object against the
// Kubernetes schemas, and check what each value switches on and off.
import { describe, expect, test } from "bun:test";
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import {
  byKind,
  CHART,
  find,
  type K8sObject,
  lint,
  PUBLIC_SERVICES,
  REPO,
  render,
  SERVICES,
  template,
  VALUES_ALL,
} from "./helm.ts";
import { validateAll } from "./k8s.ts";

const defaults = render();
const all = render({ valuesFiles: [VALUES_ALL] });

const containersOf = (o: K8sObject): K8sObject[] => o.spec.template.spec.containers;
const workloads = (objects: K8sObject[]) => [...byKind(objects, "Deployment"), ...byKind(objects, "Job")];
const env = (container: K8sObject, name: string) =>
  (container.env as { name: string; value?: string; valueFrom?: K8sObject }[]).find((e) => e.name === name);
const deployment = (objects: K8sObject[], service: string, prefix = "rt-roundtrip") =>
  find(objects, "Deployment", `${prefix}-${service}`);

describe("helm lint", () => {
  test("passes with default values", () => {
    const r = lint();
    expect(r.stderr + r.stdout).toContain("0 chart(s) failed");
    expect(r.code).toBe(0);
  });

  test("passes with every option switched on", () => {
    const r = lint({ valuesFiles: [VALUES_ALL] });
    expect(r.stderr + r.stdout).toContain("0 chart(s) failed");
    expect(r.code).toBe(0);
  });
});

describe("every rendered object is valid Kubernetes", () => {
  test("default values", async () => {
    expect(defaults.length).toBeGreaterThan(20);
    expect(await validateAll(defaults)).toEqual([]);
  });

  test("all-options values", async () => {
    expect(await validateAll(all)).toEqual([]);
  });

  test("existingSecret, everything off", async () => {
    const objects = render({
      values: {
        existingSecret: "roundtrip",
        serviceAccount: { create: false },
        networkPolicy: { enabled: false },
        serviceDefaults: { pdb: { enabled: false }, topologySpread: false },
        jobs: { migrate: { enabled: false }, provision: { enabled: false } },
        preStopSleepSeconds: 0,
      },
    });
    expect(await validateAll(objects)).toEqual([]);
  });

  test("a long release name keeps every name within 63 characters and the component suffix", async () => {
    const release = "x".repeat(53); // the longest release name helm accepts
    const objects = render({ release, valuesFiles: [VALUES_ALL], values: { nameOverride: "" } });
    expect(find(objects, "Secret", `${release}-roundtrip`.slice(0, 63))).toBeDefined();
    expect(await validateAll(objects)).toEqual([]);
    for (const o of objects) expect(o.metadata.name.length).toBeLessThanOrEqual(63);
    for (const s of SERVICES) {
      expect(byKind(objects, "Deployment").some((d) => d.metadata.name.endsWith(`-${s}`))).toBe(true);
    }
  });
});

describe("default values", () => {
  test("render one Deployment, Service, PodDisruptionBudget and NetworkPolicy per service and no optional extras", () => {
    for (const kind of ["Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"]) {
      expect(
        byKind(defaults, kind)
          .map((o) => o.metadata.name)
          .sort(),
      ).toEqual(SERVICES.map((s) => `rt-roundtrip-${s}`).sort());
    }
    for (const kind of [
      "HorizontalPodAutoscaler",
      "Ingress",
      "ServiceMonitor",
      "PrometheusRule",
      "ConfigMap",
    ]) {
      expect(byKind(defaults, kind)).toEqual([]);
    }
  });

  test("every object carries the app.kubernetes.io labels", () => {
    for (const o of defaults) {
      const labels = o.metadata.labels ?? {};
      expect(labels["app.kubernetes.io/name"]).toBe("roundtrip");
      expect(labels["app.kubernetes.io/instance"]).toBe("rt");
      expect(labels["app.kubernetes.io/managed-by"]).toBe("Helm");
      expect(labels["helm.sh/chart"]).toBe("roundtrip-0.1.0");
    }
  });

  test("one image for every service; the argument selects the entry file", () => {
    for (const s of SERVICES) {
      const [c] = containersOf(deployment(defaults, s));
      expect(c?.image).toBe("roundtrip/roundtrip:0.1.0");
      expect(c?.command).toBeUndefined(); // the image's ENTRYPOINT is bun
      expect(c?.args).toEqual([`services/${s}/src/index.ts`]);
    }
  });

  test("ports and PORT follow docs/internals.md", () => {
    const ports = {
      admin: 8080,
      click: 8081,
      gateway: 8082,
      attribution: 8083,
      commission: 8084,
      delivery: 8085,
    };
    for (const [s, port] of Object.entries(ports)) {
      const [c] = containersOf(deployment(defaults, s));
      expect(c?.ports).toEqual([{ name: "http", containerPort: port, protocol: "TCP" }]);
      expect(env(c as K8sObject, "PORT")?.value).toBe(String(port));
      const svc = find(defaults, "Service", `rt-roundtrip-${s}`);
      expect(svc.spec.ports).toEqual([{ name: "http", port, targetPort: "http", protocol: "TCP" }]);
      expect(svc.spec.selector["app.kubernetes.io/component"]).toBe(s);
    }
  });

  test("replicas: 3 for click, 2 for the others", () => {
    for (const s of SERVICES) expect(deployment(defaults, s).spec.replicas).toBe(s === "click" ? 3 : 2);
  });

  test("probes mean different things: startup and liveness on /healthz, readiness on /readyz", () => {
    for (const s of SERVICES) {
      const [c] = containersOf(deployment(defaults, s));
      expect(c?.startupProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
      expect(c?.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
      expect(c?.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
      // The start budget is generous, liveness restarts only after several misses.
      expect(c?.startupProbe.periodSeconds * c?.startupProbe.failureThreshold).toBeGreaterThanOrEqual(60);
      expect(c?.livenessProbe.failureThreshold).toBeGreaterThanOrEqual(3);
    }
  });

  test("resources are set on every container", () => {
    for (const w of workloads(defaults)) {
      for (const c of containersOf(w)) {
        expect(c.resources.requests.cpu).toBeDefined();
        expect(c.resources.requests.memory).toBeDefined();
        expect(c.resources.limits.memory).toBeDefined();
      }
    }
  });

  test("environment: common variables from the Secret, service-specific ones only where they apply", () => {
    for (const s of SERVICES) {
      const [c] = containersOf(deployment(defaults, s)) as K8sObject[];
      for (const name of ["DATABASE_URL", "NATS_URL"]) {
        expect(env(c as K8sObject, name)?.valueFrom?.secretKeyRef).toEqual({
          name: "rt-roundtrip",
          key: name,
        });
      }
      for (const name of [
        "DATABASE_POOL_MAX",
        "BUS_PREFIX",
        "BUS_REPLICAS",
        "LOG_LEVEL",
        "SHUTDOWN_TIMEOUT_MS",
        "READY_STALL_MS",
        "OUTBOX_REPUBLISH_AFTER_MS",
      ]) {
        expect(env(c as K8sObject, name)).toBeDefined();
      }
      expect(env(c as K8sObject, "CLICK_ID_KEYS") !== undefined).toBe(
        ["click", "gateway", "attribution", "admin"].includes(s),
      );
      expect(env(c as K8sObject, "IP_TRUNCATE") !== undefined).toBe(["click", "gateway"].includes(s));
      expect(env(c as K8sObject, "TRUST_PROXY")?.value).toBe(
        ["click", "gateway"].includes(s) ? "false" : undefined,
      );
      expect(env(c as K8sObject, "TRUSTED_PROXY_HOPS")?.value).toBe(
        ["click", "gateway"].includes(s) ? "0" : undefined,
      );
      expect(env(c as K8sObject, "CLICK_SINK")?.value).toBe(s === "click" ? "jetstream" : undefined);
      // Admin's "send test" of a postback template uses the delivery SSRF guard and its exemptions.
      expect(env(c as K8sObject, "DELIVERY_ALLOWED_CIDRS") !== undefined).toBe(
        s === "delivery" || s === "admin",
      );
      expect(env(c as K8sObject, "ADMIN_BOOTSTRAP_API_KEY") !== undefined).toBe(s === "admin");
      // Without a value or a click ingress to derive it from, admin keeps its own default.
      expect(env(c as K8sObject, "PUBLIC_CLICK_URL")).toBeUndefined();
      // No OTLP endpoint configured: no export.
      expect(env(c as K8sObject, "OTEL_EXPORTER_OTLP_ENDPOINT")).toBeUndefined();
    }
    const [admin] = containersOf(deployment(defaults, "admin"));
    expect(env(admin as K8sObject, "ADMIN_BOOTSTRAP_API_KEY")?.valueFrom?.secretKeyRef.optional).toBe(true);
  });

  test("config.clickSink reaches the click container (postgres for a single-node broker)", () => {
    const [c] = containersOf(deployment(render({ values: { config: { clickSink: "postgres" } } }), "click"));
    expect(env(c as K8sObject, "CLICK_SINK")?.value).toBe("postgres");
  });

  test("the Secret holds the four variables and pods roll when it changes", () => {
    const secret = find(defaults, "Secret", "rt-roundtrip");
    expect(Object.keys(secret.data).sort()).toEqual(["CLICK_ID_KEYS", "DATABASE_URL", "NATS_URL"]);
    const withKey = render({
      values: { adminBootstrapApiKey: "k".repeat(24), database: { url: "postgres://db/x" } },
    });
    const data = find(withKey, "Secret", "rt-roundtrip").data;
    expect(Buffer.from(data.ADMIN_BOOTSTRAP_API_KEY, "base64").toString()).toBe("k".repeat(24));
    expect(Buffer.from(data.DATABASE_URL, "base64").toString()).toBe("postgres://db/x");
    const before = deployment(defaults, "click").spec.template.metadata.annotations["checksum/secret"];
    const after = deployment(withKey, "click").spec.template.metadata.annotations["checksum/secret"];
    expect(before).toMatch(/^[0-9a-f]{64}$/);
    expect(after).not.toBe(before);
  });
});

describe("security", () => {
  for (const [label, objects] of [
    ["default", defaults],
    ["all-options", all],
  ] as const) {
    test(`every container is hardened (${label})`, () => {
      const ws = workloads(objects);
      expect(ws.length).toBe(8);
      for (const w of ws) {
        const pod = w.spec.template.spec;
        expect(pod.automountServiceAccountToken).toBe(false);
        expect(pod.securityContext.runAsNonRoot).toBe(true);
        expect(pod.securityContext.seccompProfile).toEqual({ type: "RuntimeDefault" });
        expect(pod.volumes).toContainEqual(
          expect.objectContaining({ name: "tmp", emptyDir: expect.any(Object) }),
        );
        for (const c of containersOf(w)) {
          const sc = c.securityContext;
          expect(sc.runAsNonRoot).toBe(true);
          expect(sc.runAsUser).toBeGreaterThan(0);
          expect(sc.readOnlyRootFilesystem).toBe(true);
          expect(sc.allowPrivilegeEscalation).toBe(false);
          expect(sc.privileged).toBe(false);
          expect(sc.capabilities).toEqual({ drop: ["ALL"] });
          expect(sc.seccompProfile).toEqual({ type: "RuntimeDefault" });
          expect(c.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
        }
      }
    });
  }

  test("a preStop sleep precedes SIGTERM and fits in the grace period", () => {
    const d = deployment(defaults, "click");
    const [c] = containersOf(d);
    expect(c?.lifecycle.preStop.exec.command).toEqual(["bun", "-e", "setTimeout(() => {}, 5000)"]);
    expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(5 + 10);
    const off = render({ values: { preStopSleepSeconds: 0 } });
    expect(containersOf(deployment(off, "click"))[0]?.lifecycle).toBeUndefined();
  });
});

describe("hooks", () => {
  test("migrations and stream provisioning run as pre-install/pre-upgrade hook jobs, in that order", () => {
    const migrate = find(defaults, "Job", "rt-roundtrip-migrate");
    const provision = find(defaults, "Job", "rt-roundtrip-provision");
    const hookSecret = find(defaults, "Secret", "rt-roundtrip-hooks");
    for (const o of [migrate, provision, hookSecret]) {
      expect(o.metadata.annotations?.["helm.sh/hook"]).toBe("pre-install,pre-upgrade");
      expect(o.metadata.annotations?.["helm.sh/hook-delete-policy"]).toBe(
        "before-hook-creation,hook-succeeded",
      );
    }
    const weight = (o: K8sObject) => Number(o.metadata.annotations?.["helm.sh/hook-weight"]);
    expect(weight(hookSecret)).toBeLessThan(weight(migrate));
    expect(weight(migrate)).toBeLessThan(weight(provision));
    expect(containersOf(migrate)[0]?.args).toEqual(["packages/db/src/cli.ts", "migrate"]);
    expect(containersOf(provision)[0]?.args).toEqual(["packages/bus/src/cli.ts", "provision"]);
    // Stream replicas come from nats.streamReplicas (R3 on a 3-node cluster).
    expect(env(containersOf(provision)[0] as K8sObject, "BUS_REPLICAS")?.value).toBe("1");
    const [r3] = containersOf(find(all, "Job", "rt-provision"));
    expect(env(r3 as K8sObject, "BUS_REPLICAS")?.value).toBe("3");
    for (const job of [migrate, provision]) {
      expect(job.spec.template.spec.restartPolicy).toBe("Never");
      // Pre-install: the release's own Secret does not exist yet, the hook copy does.
      const [c] = containersOf(job);
      expect(env(c as K8sObject, "DATABASE_URL")?.valueFrom?.secretKeyRef.name).toBe("rt-roundtrip-hooks");
      expect(env(c as K8sObject, "NATS_URL")?.valueFrom?.secretKeyRef.name).toBe("rt-roundtrip-hooks");
      // A chart-created ServiceAccount does not exist at pre-install either.
      expect(job.spec.template.spec.serviceAccountName).toBeUndefined();
    }
    // The release Secret itself is not a hook.
    expect(find(defaults, "Secret", "rt-roundtrip").metadata.annotations?.["helm.sh/hook"]).toBeUndefined();
  });

  test("jobs can be switched off", () => {
    const objects = render({ values: { jobs: { migrate: { enabled: false } } } });
    expect(byKind(objects, "Job").map((j) => j.metadata.name)).toEqual(["rt-roundtrip-provision"]);
    const none = render({ values: { jobs: { migrate: { enabled: false }, provision: { enabled: false } } } });
    expect(byKind(none, "Job")).toEqual([]);
  });
});

describe("secrets", () => {
  const objects = render({
    values: {
      existingSecret: "roundtrip-prod",
      existingSecretKeys: { databaseUrl: "uri", clickIdKeys: "click-keys" },
      database: { url: "postgres://ignored/x" },
    },
  });

  test("existingSecret renders no Secret", () => {
    expect(byKind(objects, "Secret")).toEqual([]);
  });

  test("deployments and jobs reference existingSecret with the configured keys", () => {
    for (const w of workloads(objects)) {
      const [c] = containersOf(w);
      expect(env(c as K8sObject, "DATABASE_URL")?.valueFrom?.secretKeyRef).toEqual({
        name: "roundtrip-prod",
        key: "uri",
      });
      expect(env(c as K8sObject, "NATS_URL")?.valueFrom?.secretKeyRef).toEqual({
        name: "roundtrip-prod",
        key: "NATS_URL",
      });
      expect(w.spec.template.metadata.annotations?.["checksum/secret"]).toBeUndefined();
    }
    const [click] = containersOf(deployment(objects, "click"));
    expect(env(click as K8sObject, "CLICK_ID_KEYS")?.valueFrom?.secretKeyRef).toEqual({
      name: "roundtrip-prod",
      key: "click-keys",
    });
  });
});

describe("autoscaling and disruption budgets", () => {
  test("HPA off renders none and keeps replicas; on renders autoscaling/v2 and drops replicas", () => {
    expect(byKind(defaults, "HorizontalPodAutoscaler")).toEqual([]);
    const objects = render({
      values: { services: { click: { autoscaling: { enabled: true, maxReplicas: 40 } } } },
    });
    const hpas = byKind(objects, "HorizontalPodAutoscaler");
    expect(hpas.map((h) => h.metadata.name)).toEqual(["rt-roundtrip-click"]);
    const [hpa] = hpas as [K8sObject];
    expect(hpa.apiVersion).toBe("autoscaling/v2");
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: "rt-roundtrip-click",
    });
    expect(hpa.spec.minReplicas).toBe(2);
    expect(hpa.spec.maxReplicas).toBe(40);
    expect(hpa.spec.metrics).toEqual([
      {
        type: "Resource",
        resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } },
      },
    ]);
    expect(deployment(objects, "click").spec.replicas).toBeUndefined();
    expect(deployment(objects, "gateway").spec.replicas).toBe(2);
  });

  test("all-options: HPAs for every service but the one that turns it off, with extra metrics", () => {
    const names = byKind(all, "HorizontalPodAutoscaler").map((h) => h.metadata.name);
    expect(names.sort()).toEqual(["rt-admin", "rt-attribution", "rt-click", "rt-delivery", "rt-gateway"]);
    const attribution = find(all, "HorizontalPodAutoscaler", "rt-attribution");
    expect(attribution.spec.metrics.map((m: K8sObject) => m.type)).toEqual(["Resource", "External"]);
    expect(find(all, "Deployment", "rt-commission").spec.replicas).toBe(3);
  });

  test("replicaCount is per service", () => {
    const objects = render({
      values: { services: { delivery: { replicaCount: 5 } }, serviceDefaults: { replicaCount: 4 } },
    });
    expect(deployment(objects, "delivery").spec.replicas).toBe(5);
    expect(deployment(objects, "attribution").spec.replicas).toBe(4);
    expect(deployment(objects, "click").spec.replicas).toBe(3);
  });

  test("PDBs: maxUnavailable 1 by default, minAvailable or a percentage when set, none when disabled", () => {
    for (const s of SERVICES) {
      expect(find(defaults, "PodDisruptionBudget", `rt-roundtrip-${s}`).spec.maxUnavailable).toBe(1);
    }
    expect(find(all, "PodDisruptionBudget", "rt-admin").spec).toMatchObject({ minAvailable: 2 });
    expect(find(all, "PodDisruptionBudget", "rt-gateway").spec.maxUnavailable).toBe("25%");
    expect(byKind(all, "PodDisruptionBudget").some((p) => p.metadata.name === "rt-commission")).toBe(false);
  });

  test("a disabled service renders nothing", () => {
    const objects = render({ values: { services: { delivery: { enabled: false } } } });
    expect(objects.some((o) => o.metadata.name === "rt-roundtrip-delivery")).toBe(false);
    expect(byKind(objects, "Deployment").length).toBe(5);
  });
});

describe("network policies", () => {
  test("networkPolicy.enabled=false renders none", () => {
    expect(byKind(render({ values: { networkPolicy: { enabled: false } } }), "NetworkPolicy")).toEqual([]);
  });

  test("ingress: click, gateway and admin from anywhere; every service's metrics port from the monitoring namespace", () => {
    for (const s of SERVICES) {
      const np = find(defaults, "NetworkPolicy", `rt-roundtrip-${s}`);
      expect(np.spec.policyTypes).toEqual(["Ingress", "Egress"]);
      expect(np.spec.podSelector.matchLabels["app.kubernetes.io/component"]).toBe(s);
      const open = np.spec.ingress.filter((r: K8sObject) => r.from === undefined);
      expect(open.length).toBe((PUBLIC_SERVICES as readonly string[]).includes(s) ? 1 : 0);
      expect(np.spec.ingress).toContainEqual({
        ports: [{ port: "http", protocol: "TCP" }],
        from: [
          {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } },
            podSelector: {},
          },
        ],
      });
    }
  });

  test("admin may reach click and gateway (launch validation), and they admit it even behind publicFrom", () => {
    const admin = find(defaults, "NetworkPolicy", "rt-roundtrip-admin").spec.egress.at(-1);
    expect(admin.to.map((p: K8sObject) => p.podSelector.matchLabels["app.kubernetes.io/component"])).toEqual([
      "click",
      "gateway",
    ]);
    const restricted = render({
      values: { networkPolicy: { publicFrom: [{ ipBlock: { cidr: "203.0.113.0/24" } }] } },
    });
    for (const s of ["click", "gateway"]) {
      const ingress: K8sObject[] = find(restricted, "NetworkPolicy", `rt-roundtrip-${s}`).spec.ingress;
      expect(
        ingress.some(
          (r) => r.from?.[0]?.podSelector?.matchLabels?.["app.kubernetes.io/component"] === "admin",
        ),
      ).toBe(true);
    }
  });

  test("egress: DNS, PostgreSQL and NATS for all; the internet only for delivery and admin (send test)", () => {
    for (const s of SERVICES) {
      const egress: K8sObject[] = find(defaults, "NetworkPolicy", `rt-roundtrip-${s}`).spec.egress;
      const ports = egress.flatMap((r) => (r.ports ?? []).map((p: K8sObject) => `${p.protocol}/${p.port}`));
      // Admin also reaches click and gateway, for launch validation runs.
      const extra = s === "admin" ? ["TCP/http"] : [];
      expect(ports).toEqual(["UDP/53", "TCP/53", "TCP/5432", "TCP/4222", ...extra]);
      const internet = egress.filter((r) =>
        r.to?.some((peer: K8sObject) => peer.ipBlock?.cidr === "0.0.0.0/0"),
      );
      expect(internet.length).toBe(s === "delivery" || s === "admin" ? 1 : 0);
    }
    const delivery = find(defaults, "NetworkPolicy", "rt-roundtrip-delivery").spec.egress.at(-1);
    expect(delivery.to[0].ipBlock.except).toContain("10.0.0.0/8");
    expect(delivery.to[0].ipBlock.except).toContain("169.254.0.0/16");
    expect(delivery.ports).toBeUndefined();
  });

  test("the SSRF-exempt CIDRs reach delivery and admin (send test): env and egress", () => {
    for (const s of ["delivery", "admin"]) {
      const np = find(all, "NetworkPolicy", `rt-${s}`);
      expect(np.spec.egress.flatMap((r: K8sObject) => r.to ?? [])).toContainEqual({
        ipBlock: { cidr: "10.20.0.0/16" },
      });
      const [c] = containersOf(deployment(all, s, "rt"));
      expect(env(c as K8sObject, "DELIVERY_ALLOWED_CIDRS")?.value).toContain("10.20.0.0/16");
    }
  });
});

describe("ingress", () => {
  test("off by default, and never offered to internal services by the schema", () => {
    expect(byKind(defaults, "Ingress")).toEqual([]);
    const r = template({ values: { services: { delivery: { ingress: { enabled: true } } } } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Additional property ingress is not allowed");
  });

  test("click, gateway and admin get their hosts, paths and TLS", () => {
    const ingresses = byKind(all, "Ingress");
    expect(ingresses.map((i) => i.metadata.name).sort()).toEqual(["rt-admin", "rt-click", "rt-gateway"]);
    const click = find(all, "Ingress", "rt-click");
    expect(click.spec.ingressClassName).toBe("nginx");
    expect(click.spec.tls).toEqual([{ secretName: "click-tls", hosts: ["go.example.com"] }]);
    expect(click.spec.rules).toEqual([
      {
        host: "go.example.com",
        http: {
          paths: [
            {
              path: "/c",
              pathType: "Prefix",
              backend: { service: { name: "rt-click", port: { name: "http" } } },
            },
          ],
        },
      },
    ]);
    const gateway = find(all, "Ingress", "rt-gateway");
    expect(gateway.spec.rules[0].http.paths.map((p: K8sObject) => p.path)).toEqual(["/postback", "/pixel"]);
    expect(find(all, "Ingress", "rt-admin").metadata.annotations).toEqual({
      "nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/8",
    });
  });

  test("admin's public URLs come from the ingress hosts unless set", () => {
    const [admin] = containersOf(find(all, "Deployment", "rt-admin"));
    expect(env(admin as K8sObject, "PUBLIC_CLICK_URL")?.value).toBe("https://go.example.com");
    expect(env(admin as K8sObject, "PUBLIC_GATEWAY_URL")?.value).toBe("https://postbacks.example.com");
    const plain = render({
      values: {
        services: {
          gateway: {
            ingress: {
              enabled: true,
              hosts: [{ host: "pb.example.org", paths: [{ path: "/", pathType: "Prefix" }] }],
            },
          },
        },
      },
    });
    const [c] = containersOf(deployment(plain, "admin"));
    expect(env(c as K8sObject, "PUBLIC_GATEWAY_URL")?.value).toBe("http://pb.example.org");
    // Neither set nor derivable: left out, so admin's own default applies.
    expect(env(c as K8sObject, "PUBLIC_CLICK_URL")).toBeUndefined();
  });
});

describe("monitoring", () => {
  test("ServiceMonitor scrapes /metrics of the six services and labels targets by component", () => {
    const [sm] = byKind(all, "ServiceMonitor") as [K8sObject];
    expect(sm.metadata.namespace).toBe("monitoring");
    expect(sm.metadata.labels?.release).toBe("kube-prometheus-stack");
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: ["roundtrip"] });
    expect(sm.spec.selector.matchExpressions[0].values.sort()).toEqual([...SERVICES].sort());
    const [ep] = sm.spec.endpoints;
    expect(ep).toMatchObject({
      port: "http",
      path: "/metrics",
      interval: "15s",
      scrapeTimeout: "5s",
      honorLabels: true,
    });
    expect(ep.relabelings[0]).toEqual({
      sourceLabels: ["__meta_kubernetes_service_label_app_kubernetes_io_component"],
      targetLabel: "service",
      action: "replace",
    });
    expect(ep.relabelings.length).toBe(2);
    // Every Service it selects matches the selector.
    for (const s of byKind(all, "Service")) {
      for (const [k, v] of Object.entries(sm.spec.selector.matchLabels))
        expect(s.metadata.labels?.[k]).toBe(v as string);
    }
  });

  test("PrometheusRule carries exactly deploy/prometheus/rules.yml, runbook paths made links", () => {
    const [rule] = byKind(all, "PrometheusRule") as [K8sObject];
    const deployed = parse(readFileSync(join(REPO, "deploy", "prometheus", "rules.yml"), "utf8"));
    const base = "https://github.com/roundtrip-tracking/roundtrip/blob/main/";
    for (const group of deployed.groups)
      for (const r of group.rules)
        if (r.annotations?.runbook_url) r.annotations.runbook_url = `${base}${r.annotations.runbook_url}`;
    expect(rule.spec.groups).toEqual(deployed.groups);
    expect(rule.metadata.labels?.release).toBe("kube-prometheus-stack");
  });

  test("one dashboard ConfigMap per deploy/grafana dashboard, with the sidecar label, byte-identical", () => {
    const maps = byKind(all, "ConfigMap");
    const files = [...new Bun.Glob("*.json").scanSync(join(REPO, "deploy", "grafana"))].sort();
    expect(files.length).toBe(8);
    expect(maps.length).toBe(files.length);
    for (const file of files) {
      const cm = maps.find((m) => file in m.data);
      if (!cm) throw new Error(`no ConfigMap carries ${file}`);
      expect(cm.metadata.labels?.grafana_dashboard).toBe("1");
      expect(cm.metadata.annotations?.grafana_folder).toBe("Roundtrip");
      expect(cm.metadata.namespace).toBe("monitoring");
      expect(`${cm.data[file]}\n`).toBe(readFileSync(join(REPO, "deploy", "grafana", file), "utf8"));
    }
  });

  test("the dashboard label is configurable", () => {
    const objects = render({
      values: {
        metrics: { dashboards: { enabled: true, labels: { "grafana.example.com/dashboard": "yes" } } },
      },
    });
    for (const cm of byKind(objects, "ConfigMap")) {
      expect(cm.metadata.labels?.["grafana.example.com/dashboard"]).toBe("yes");
      expect(cm.metadata.namespace).toBe("roundtrip");
    }
  });
});

describe("values.schema.json rejects wrong values", () => {
  const rejects: [string, object, string][] = [
    [
      "a string replica count",
      { services: { click: { replicaCount: "two" } } },
      "Invalid type. Expected: integer",
    ],
    [
      "an unknown service",
      { services: { tracker: { port: 9000 } } },
      "Additional property tracker is not allowed",
    ],
    ["an unknown top-level key", { replicas: 3 }, "Additional property replicas is not allowed"],
    ["a misspelt nested key", { serviceDefaults: { autoscalling: {} } }, "Additional property autoscalling"],
    ["a log level outside the enum", { config: { logLevel: "verbose" } }, "config.logLevel must be one of"],
    [
      "an IP_TRUNCATE outside the enum",
      { config: { ipTruncate: "all" } },
      "config.ipTruncate must be one of",
    ],
    ["a click sink outside the enum", { config: { clickSink: "kafka" } }, "config.clickSink must be one of"],
    ["a short click ID secret", { clickIdKeys: "k1:tooshort" }, "clickIdKeys: Does not match pattern"],
    ["a non-PostgreSQL URL", { database: { url: "mysql://db/x" } }, "database.url: Does not match pattern"],
    [
      "a BUS_PREFIX the services reject",
      { nats: { busPrefix: "prod-eu" } },
      "nats.busPrefix: Does not match pattern",
    ],
    ["stream replicas beyond 5", { nats: { streamReplicas: 7 } }, "Must be less than or equal to 5"],
    [
      "a short admin bootstrap key",
      { adminBootstrapApiKey: "short" },
      "adminBootstrapApiKey: Does not match pattern",
    ],
    ["a port out of range", { services: { admin: { port: 70000 } } }, "Must be less than or equal to 65535"],
    ["a boolean as string", { networkPolicy: { enabled: "yes" } }, "Invalid type. Expected: boolean"],
    [
      "a bad pathType",
      {
        services: {
          click: { ingress: { hosts: [{ host: "a.b", paths: [{ path: "/", pathType: "Any" }] }] } },
        },
      },
      "pathType must be one of",
    ],
    ["a bad quantity", { serviceDefaults: { resources: { requests: { memory: "lots" } } } }, "memory"],
  ];
  for (const [what, values, message] of rejects) {
    test(what, () => {
      const r = template({ values });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(message);
    });
  }
});

describe("NOTES.txt", () => {
  // helm template does not render NOTES.txt; a throwaway copy of the chart renders it through `tpl`.
  function notes(values: object): string {
    const dir = mkdtempSync(join(tmpdir(), "roundtrip-notes-"));
    try {
      cpSync(CHART, dir, { recursive: true });
      copyFileSync(join(dir, "templates", "NOTES.txt"), join(dir, "notes.txt"));
      writeFileSync(
        join(dir, "templates", "notes-render.yaml"),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}\n',
      );
      const [cm] = render({ chart: dir, values, extraArgs: ["--show-only", "templates/notes-render.yaml"] });
      return cm?.data.notes ?? "";
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test("warns when the secrets are missing, lists services and ingress URLs", () => {
    const text = notes({
      services: { click: { ingress: { enabled: true, tls: [{ secretName: "t", hosts: ["x"] }] } } },
    });
    expect(text).toContain("WARNING");
    expect(text).toContain("database.url (DATABASE_URL)");
    expect(text).toContain("https://click.roundtrip.example.com");
    for (const s of SERVICES) expect(text).toContain(`rt-roundtrip-${s}:`);
  });

  test("is quiet when an existing Secret is used", () => {
    expect(notes({ existingSecret: "s" })).not.toContain("WARNING");
  });
});

describe("secrets and volumes of your own", () => {
  const objects = render({
    values: {
      database: { url: "postgres://chart@db/rt" },
      nats: { url: "nats://nats:4222" },
      clickIdKeys: `k1:${"x".repeat(40)}`,
      secretRefs: {
        databaseUrl: { name: "roundtrip-db-app", key: "uri" },
        natsUrl: { name: "nats-urls", key: "url" },
      },
      extraVolumes: [{ name: "nats-creds", secret: { secretName: "nats-creds" } }],
      extraVolumeMounts: [{ name: "nats-creds", mountPath: "/etc/nats", readOnly: true }],
    },
  });

  test("a per-value secret reference wins for its variable only, in services and hook jobs", () => {
    for (const w of workloads(objects)) {
      const c = containersOf(w)[0] as K8sObject;
      expect(env(c, "DATABASE_URL")?.valueFrom?.secretKeyRef).toEqual({
        name: "roundtrip-db-app",
        key: "uri",
      });
      expect(env(c, "NATS_URL")?.valueFrom?.secretKeyRef).toEqual({ name: "nats-urls", key: "url" });
      expect(env(c, "CLICK_ID_KEYS")?.valueFrom?.secretKeyRef?.name).not.toBe("roundtrip-db-app");
    }
  });

  test("extraVolumes and extraVolumeMounts reach every pod and container, beside /tmp", () => {
    for (const w of workloads(objects)) {
      const volumes = w.spec.template.spec.volumes as { name: string }[];
      expect(volumes.map((v) => v.name)).toEqual(expect.arrayContaining(["tmp", "nats-creds"]));
      const c = containersOf(w)[0] as K8sObject;
      expect(c.volumeMounts).toContainEqual({ name: "nats-creds", mountPath: "/etc/nats", readOnly: true });
    }
  });

  test("a reference without its key is refused at render time, naming the value", () => {
    const r = template({ values: { existingSecret: "s", secretRefs: { natsUrl: { name: "n", key: "" } } } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("secretRefs.natsUrl.key is required");
  });
});

describe("a GeoIP country database of your own", () => {
  const objects = render({
    values: {
      geoip: {
        volume: { persistentVolumeClaim: { claimName: "geoip", readOnly: true } },
        file: "2026-11/country.mmdb",
      },
    },
  });

  test("is mounted read-only in the click pods only, and GEOIP_COUNTRY_DB names the file", async () => {
    const click = deployment(objects, "click");
    expect(click.spec.template.spec.volumes).toContainEqual({
      name: "geoip",
      persistentVolumeClaim: { claimName: "geoip", readOnly: true },
    });
    const c = containersOf(click)[0] as K8sObject;
    expect(c.volumeMounts).toContainEqual({ name: "geoip", mountPath: "/geoip", readOnly: true });
    expect(env(c, "GEOIP_COUNTRY_DB")?.value).toBe("/geoip/2026-11/country.mmdb");
    for (const w of workloads(objects).filter((o) => o !== click)) {
      expect((w.spec.template.spec.volumes as { name: string }[]).map((v) => v.name)).not.toContain("geoip");
      expect(env(containersOf(w)[0] as K8sObject, "GEOIP_COUNTRY_DB")).toBeUndefined();
    }
    expect(await validateAll(objects)).toEqual([]);
  });

  test("without a volume the click service keeps the bundled one", () => {
    const c = containersOf(deployment(defaults, "click"))[0] as K8sObject;
    expect(env(c, "GEOIP_COUNTRY_DB")).toBeUndefined();
    expect((c.volumeMounts as { name: string }[]).map((m) => m.name)).not.toContain("geoip");
  });

  test("a file outside the volume is refused", () => {
    for (const file of ["/etc/passwd", "../country.mmdb", "a/../../b"]) {
      const r = template({ values: { geoip: { volume: { emptyDir: {} }, file } } });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("geoip.file");
    }
  });
});
