/**
 * The local stack behind `bun run up` (deploy/local/up.ts installs dependencies, then runs this):
 * PostgreSQL and NATS (yours when DATABASE_URL / NATS_URL answer, embedded otherwise), migrations,
 * streams, the six services on their default ports, the demo seed; Ctrl-C stops it all in order.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
// deploy/ is not a workspace package, so it reaches @roundtrip/stack by path.
import {
  DATA_DIR,
  DEFAULT_PORTS,
  type Dependency,
  freePortsFor,
  portHolder,
  portTaken,
  REPO_ROOT,
  type ServiceName,
  SERVICE_NAMES,
  type ServiceHandle,
  type Stack,
  startStack,
  ensureNats,
  ensurePostgres,
} from "../../packages/stack/src/index.ts";
import { type DemoSeed, SeedError, seedDemo } from "./seed.ts";
import { LOCAL_ADMIN_EMAIL, loadOrCreateSecrets } from "./secrets.ts";

const HOST = "127.0.0.1";
const url = (port: number) => `http://${HOST}:${port}`;

/** What `up` takes from the environment, read once; everything is optional. */
function readEnvironment(ports: Record<ServiceName, number>) {
  const {
    DATABASE_URL,
    NATS_URL,
    BUS_PREFIX,
    CLICK_ID_KEYS,
    ADMIN_BOOTSTRAP_API_KEY,
    DELIVERY_ALLOWED_CIDRS,
    PUBLIC_CLICK_URL: publicClickUrl,
    PUBLIC_GATEWAY_URL: publicGatewayUrl,
  } = process.env;
  return {
    databaseUrl: DATABASE_URL || undefined,
    natsUrl: NATS_URL || undefined,
    busPrefix: BUS_PREFIX ?? "",
    clickIdKeys: CLICK_ID_KEYS || undefined,
    adminApiKey: ADMIN_BOOTSTRAP_API_KEY || undefined,
    // The demo delivers affiliate postbacks to the admin's receiver on localhost.
    deliveryAllowedCidrs: DELIVERY_ALLOWED_CIDRS ?? "127.0.0.0/8,::1/128",
    publicClickUrl: publicClickUrl ?? url(ports.click),
    publicGatewayUrl: publicGatewayUrl ?? url(ports.gateway),
  };
}

const DUPLICATE_SIGNAL_MS = 1_000;

class Aborted extends Error {
  override name = "Aborted";
}

/** Hide the password of a PostgreSQL you configured; the embedded one's (postgres/postgres) is shown for psql. */
function redact(pg: Dependency): string {
  try {
    const u = new URL(pg.url);
    if (u.password && !pg.started) u.password = "***";
    return u.toString();
  } catch {
    return pg.url;
  }
}

const PORTS_FILE = resolve(DATA_DIR, "ports.json");

/**
 * The services' ports: 8080…8085, or the set an earlier run of this clone used, when all are
 * free. When one is taken (another stack, another program) every service moves to a free port —
 * said here, with who holds the port — so a second clone runs beside the first; the set is kept
 * in .data/ports.json, so the demo's URLs stay valid on the next start.
 */
function choosePorts(status: (message: string) => void): Record<ServiceName, number> {
  let remembered: Record<ServiceName, number> | undefined;
  try {
    remembered = JSON.parse(readFileSync(PORTS_FILE, "utf8"));
  } catch {
    remembered = undefined;
  }
  for (const candidate of [remembered, DEFAULT_PORTS]) {
    if (!candidate || !SERVICE_NAMES.every((n) => Number.isInteger(candidate[n]))) continue;
    const taken = SERVICE_NAMES.filter((n) => portTaken(candidate[n]));
    if (taken.length === 0) return { ...candidate };
    status(
      `ports: ${taken.map((n) => `${candidate[n]} (${n}) is taken by ${portHolder(candidate[n])}`).join(", ")}`,
    );
  }
  const ports = freePortsFor(SERVICE_NAMES);
  status("ports: the services use free ports instead (listed below when they are up)");
  return ports;
}

/** Follow the demo link once; the click ID in the redirect makes the example postback ready to paste. */
async function demoClick(
  linkUrl: string,
): Promise<{ location: string; clickId: string | undefined } | undefined> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(linkUrl, { redirect: "manual", signal: AbortSignal.timeout(2_000) });
      const location = res.headers.get("location");
      if (res.status === 302 && location) {
        const clickId = new URL(location, linkUrl).searchParams.get("click_id") ?? undefined;
        return { location, clickId };
      }
    } catch {
      // The click service may not have the new link in its cache yet.
    }
    await Bun.sleep(500);
  }
  return undefined;
}

function banner(options: {
  stack: Stack;
  pg: Dependency;
  nats: Dependency;
  apiKey: string;
  adminPassword: string;
  seed: DemoSeed | undefined;
  click: Awaited<ReturnType<typeof demoClick>>;
}): string {
  const { stack, pg, nats, apiKey, adminPassword, seed, click } = options;
  const link = `${stack.urls.click}/c/demo`;
  const clickId = click?.clickId ?? "<click_id from the redirect>";
  const token = seed?.advertiserToken ?? "<the demo advertiser's token>";
  const admin = stack.urls.admin;
  const lines = [
    "",
    "Roundtrip is up.",
    "",
    ...SERVICE_NAMES.map((name) => `  ${name.padEnd(12)} ${stack.urls[name]}`),
    `  ${"postgresql".padEnd(12)} ${redact(pg)}${pg.started ? "  (embedded, data in .data/postgres)" : ""}`,
    `  ${"nats".padEnd(12)} ${nats.url}${nats.started ? "  (nats-server, store in .data/nats)" : ""}`,
    "",
    `Open the console at ${admin}/ui/ and sign in as ${LOCAL_ADMIN_EMAIL}`,
    `  with the password ${adminPassword}   (invite more people under Users)`,
    `Admin API key, for scripts and machines:  ${apiKey}`,
    `API reference: ${admin}/docs   (the document: ${admin}/openapi.json)`,
    `  curl -H 'Authorization: Bearer ${apiKey}' ${admin}/v1/brands`,
    "",
    `Demo tracking link (open it in a browser):  ${link}`,
    click
      ? `  it lands on the demo advertiser's page, which fires postbacks for you: ${click.location}`
      : "  (it did not redirect yet — the click service may still be loading the link)",
    "",
    "Or play the advertiser: an FTD postback on that click",
    `  curl '${stack.urls.gateway}/postback?click_id=${clickId}&txid=demo-${Date.now()}&event=ftd&amount=100.00&currency=EUR&token=${token}'`,
    `The postbacks the demo affiliate received: ${admin}/demo/affiliate-postbacks`,
    "",
    "Press Ctrl-C to stop.",
    "",
  ];
  return lines.join("\n");
}

/** Runs until Ctrl-C / SIGTERM (exit code 0) or a failure (1). */
export async function main(): Promise<number> {
  const abort = new AbortController();
  let requestShutdown: (signal: string) => void = () => {};
  const shutdownRequested = new Promise<string>((resolveShutdown) => {
    requestShutdown = resolveShutdown;
  });
  let stack: Stack | undefined;
  let pg: Dependency | undefined;
  let nats: Dependency | undefined;
  let firstSignalAt: number | undefined;

  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      // One Ctrl-C reaches us twice: from the terminal, and forwarded by `bun run`.
      if (firstSignalAt !== undefined && Date.now() - firstSignalAt < DUPLICATE_SIGNAL_MS) return;
      if (firstSignalAt === undefined) {
        firstSignalAt = Date.now();
        console.log(`\n${signal}: stopping the services, then NATS and PostgreSQL (Ctrl-C again to force)…`);
        abort.abort();
        requestShutdown(signal);
        return;
      }
      console.log("forcing: SIGKILL to the services and NATS; PostgreSQL gets a fast shutdown");
      for (const handle of Object.values<ServiceHandle>(stack?.services ?? {})) handle.kill("SIGKILL");
      nats?.process?.kill("SIGKILL");
      // Its runner (a process of its own) shuts the cluster down; killing the runner would orphan it.
      pg?.process?.kill("SIGTERM");
      process.exit(130);
    });
  }
  const checkpoint = () => {
    if (abort.signal.aborted) throw new Aborted();
  };
  const status = (message: string) => console.log(message);

  let exitCode = 0;
  try {
    const ports = choosePorts(status);
    const env = readEnvironment(ports);
    // .data/logs holds this run's logs only (one file per process).
    rmSync(resolve(DATA_DIR, "logs"), { recursive: true, force: true });
    // NATS first: a missing nats-server fails in a moment, before PostgreSQL is started for nothing.
    nats = await ensureNats(env.natsUrl, {
      onStatus: status,
      logFile: resolve(DATA_DIR, "logs", "nats.log"),
    });
    checkpoint();
    pg = await ensurePostgres(env.databaseUrl, {
      onStatus: status,
      logFile: resolve(DATA_DIR, "logs", "postgres.log"),
    });
    checkpoint();

    const secrets = loadOrCreateSecrets(resolve(DATA_DIR, "secrets.json"));
    const apiKey = env.adminApiKey ?? secrets.ADMIN_BOOTSTRAP_API_KEY;
    console.log("starting: migrations, streams, then the six services");
    stack = await startStack({
      databaseUrl: pg.url,
      natsUrl: nats.url,
      busPrefix: env.busPrefix,
      ports,
      env: {
        CLICK_ID_KEYS: env.clickIdKeys ?? secrets.CLICK_ID_KEYS,
        ADMIN_BOOTSTRAP_API_KEY: apiKey,
        // The first admin user: created once, so a password changed in the console survives a restart.
        ADMIN_BOOTSTRAP_EMAIL: LOCAL_ADMIN_EMAIL,
        ADMIN_BOOTSTRAP_PASSWORD: secrets.ADMIN_BOOTSTRAP_PASSWORD,
        DELIVERY_ALLOWED_CIDRS: env.deliveryAllowedCidrs,
        PUBLIC_CLICK_URL: env.publicClickUrl,
        PUBLIC_GATEWAY_URL: env.publicGatewayUrl,
        // The demo pages are off by default (unauthenticated); this is the demo.
        DEMO_ENABLED: "true",
        // The demo landing page fires postbacks server side with the demo advertiser's token.
        DEMO_ADVERTISER_TOKEN: secrets.DEMO_ADVERTISER_TOKEN,
      },
      cwd: REPO_ROOT,
      log: "console",
      logDir: resolve(DATA_DIR, "logs"),
      detached: true,
      signal: abort.signal,
    });
    checkpoint();
    writeFileSync(PORTS_FILE, `${JSON.stringify(ports)}\n`);

    let seed: DemoSeed | undefined;
    try {
      seed = await seedDemo(stack.urls.admin, apiKey, {
        advertiserToken: secrets.DEMO_ADVERTISER_TOKEN,
        log: status,
      });
    } catch (err) {
      if (!(err instanceof SeedError)) throw err;
      console.error(`\n${err.message}\nThe stack is running, but the demo is not (completely) seeded.`);
    }
    checkpoint();
    const click = seed ? await demoClick(`${stack.urls.click}/c/${seed.linkCode}`) : undefined;
    console.log(
      banner({ stack, pg, nats, apiKey, adminPassword: secrets.ADMIN_BOOTSTRAP_PASSWORD, seed, click }),
    );

    const died = Promise.race(
      Object.values<ServiceHandle>(stack.services).map((handle) => handle.exited.then(() => handle)),
    );
    const outcome = await Promise.race([shutdownRequested, died]);
    if (typeof outcome !== "string") {
      console.error(
        `\n${outcome.name} stopped unexpectedly (${outcome.signalCode ?? `exit code ${outcome.exitCode}`}); ` +
          `stopping the rest.\n--- last lines of ${outcome.name} ---\n${outcome.logTail(30)}\n---`,
      );
      exitCode = 1;
    }
  } catch (err) {
    if (!(err instanceof Aborted) && !abort.signal.aborted) {
      console.error(`\nbun run up failed: ${err instanceof Error ? err.message : String(err)}`);
      exitCode = 1;
    }
  } finally {
    await stack?.stop();
    await nats?.stop();
    await pg?.stop();
  }
  console.log(exitCode === 0 ? "stopped." : "stopped (after a failure).");
  return exitCode;
}
