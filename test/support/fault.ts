import { join } from "node:path";
import { SERVICE_NAMES } from "@roundtrip/stack";
import { startAffiliateEndpoint } from "./affiliate-endpoint.ts";
import type { Audit } from "./exactly-once.ts";
import { createProgram, type Program } from "./fixtures.ts";
import type { Load } from "./load.ts";
import { eventually, startTestStack, type TestStack, type TestStackOptions } from "./test-stack.ts";

/**
 * Environment of a stack under fault tests: the affiliate's endpoint may take the whole load
 * (the per-endpoint rate limit is not what these tests are about), and small connection pools,
 * since the load is modest and a shared PostgreSQL's connections are not ours alone.
 */
export const FAULT_ENV: Record<string, string> = {
  DATABASE_POOL_MAX: "4",
  DELIVERY_ENDPOINT_RATE_PER_S: "500",
  DELIVERY_ENDPOINT_CONCURRENCY: "16",
};

export type FaultRig = {
  env: TestStack;
  affiliate: ReturnType<typeof startAffiliateEndpoint>;
  program: Program;
  stop(): Promise<void>;
};

/** A broker the test owns: a private nats-server or a NatsCluster (its `url` lists every member). */
export type PrivateNats = { readonly url: string; logTail(lines?: number): string };

/** The six services over a private nats-server (or cluster), an affiliate endpoint and one program. */
export async function startFaultRig(
  label: string,
  nats: Pick<PrivateNats, "url">,
  {
    env: extraEnv = {},
    ...options
  }: Omit<TestStackOptions, "natsUrl"> & { env?: Record<string, string> } = {},
): Promise<FaultRig> {
  const affiliate = startAffiliateEndpoint();
  let env: TestStack | undefined;
  try {
    // Restarts under load on a busy machine may take long; a slow start is not the fault under test.
    // FAULT_LOG_DIR=<dir> keeps every service's whole log (<dir>/<label>/<service>.log) for a post-mortem.
    const logDir = process.env.FAULT_LOG_DIR ? join(process.env.FAULT_LOG_DIR, label) : undefined;
    env = await startTestStack(
      label,
      { ...FAULT_ENV, ...extraEnv },
      {
        readyTimeoutMs: 90_000,
        logDir,
        ...options,
        natsUrl: nats.url,
      },
    );
    const program = await createProgram(env.admin, { postbackUrl: affiliate.url });
    const rig: FaultRig = {
      env,
      affiliate,
      program,
      async stop() {
        await env?.stop();
        affiliate.stop();
      },
    };
    return rig;
  } catch (err) {
    await env?.stop();
    affiliate.stop();
    throw err;
  }
}

/** Wait until the click service knows the program's link (its cache follows admin's changes). */
export async function untilLinkRedirects(rig: FaultRig): Promise<void> {
  await eventually(async () => {
    const res = await fetch(`${rig.env.urls.click}/c/${rig.program.link.code}`, { redirect: "manual" });
    await res.arrayBuffer();
    return res.status === 302;
  }, "the tracking link to redirect");
}

export function loadTarget(rig: FaultRig) {
  return {
    clickUrl: rig.env.urls.click,
    gatewayUrl: rig.env.urls.gateway,
    linkCode: rig.program.link.code,
    advertiserToken: rig.program.advertiser.token,
  };
}

/** On a failed audit: what each process said last (errors and warnings), to tell why. */
export function failureContext(
  rig: FaultRig,
  nats: PrivateNats,
  loads: Load[],
  audit: Audit,
  extra: string[] = [],
): string {
  if (audit.problems.length === 0) return "";
  const tails = SERVICE_NAMES.map((name) => `--- ${name} ---\n${rig.env.stack.services[name].logTail(12)}`);
  return [
    ...loads.map((l) => l.summary()),
    ...tails,
    ...extra,
    `--- nats-server ---\n${nats.logTail(8)}`,
  ].join("\n");
}
