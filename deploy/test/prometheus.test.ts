// The Prometheus test helper itself: it starts the real binary with the local stack's config,
// loads the rules beside it, answers queries, and leaves no process behind.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { startPrometheus } from "./prometheus.ts";
import { REPO } from "./promql.ts";

test("startPrometheus runs deploy/prometheus/prometheus.yml on 127.0.0.1 and stops by PID", async () => {
  const prom = await startPrometheus({ configFile: join(REPO, "deploy", "prometheus", "prometheus.yml") });
  try {
    expect(prom.url).toBe(`http://127.0.0.1:${prom.port}`);

    const rules = (await (await fetch(`${prom.url}/api/v1/rules`)).json()) as {
      data: { groups: { name: string; rules: unknown[] }[] };
    };
    expect(rules.data.groups.map((g) => g.name).sort()).toEqual(["roundtrip.alerts", "roundtrip.rules"]);

    // Service discovery hands the static targets over shortly after start-up.
    let services: string[] = [];
    for (let i = 0; i < 100 && services.length < 6; i++) {
      const targets = (await (await fetch(`${prom.url}/api/v1/targets`)).json()) as {
        data: { activeTargets: { labels: Record<string, string> }[] };
      };
      services = targets.data.activeTargets.map((t) => t.labels.service ?? "").sort();
      if (services.length < 6) await Bun.sleep(100);
    }
    expect(services).toEqual(["admin", "attribution", "click", "commission", "delivery", "gateway"]);

    const r = await prom.query("vector(1)");
    expect(r).toMatchObject({ status: "success", data: { resultType: "vector" } });
  } finally {
    await prom.stop();
  }
  expect(() => process.kill(prom.pid, 0)).toThrow();
}, 60_000);
