/**
 * Start in any order: a service process started while NATS or PostgreSQL is not there waits for
 * it (alive, /readyz 503 saying what it waits for), becomes ready once it appears, without a
 * restart, and survives the broker going away (and coming back empty) later.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { createTestDatabase, type TestDatabase } from "@roundtrip/db";
import { freePort, REPO_ROOT, type ServiceHandle, startService, stop, waitReady } from "@roundtrip/stack";
import { CLICK_ID_KEYS, eventually, NATS_URL } from "./support/test-stack.ts";

const dbs: TestDatabase[] = [];
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  for (const db of dbs) await db.drop();
});

async function readyz(handle: ServiceHandle): Promise<{ status: number; body: { reasons?: string[] } }> {
  const res = await fetch(`${handle.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { reasons?: string[] } };
}

/** A nats-server of this test's own, so it can be absent, killed and wiped. */
function privateNats(port: number) {
  const root = join(REPO_ROOT, ".data");
  mkdirSync(root, { recursive: true });
  const dir = mkdtempSync(join(root, "start-order-nats-"));
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  const self = {
    start() {
      proc = Bun.spawn(["/usr/sbin/nats-server", "-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir], {
        stdout: "ignore",
        stderr: "ignore",
      });
    },
    async kill() {
      proc?.kill("SIGKILL");
      await proc?.exited;
      proc = undefined;
    },
    wipe() {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
    },
  };
  cleanups.push(async () => {
    await self.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  return self;
}

function service(name: string, env: Record<string, string>): ServiceHandle {
  const handle = startService(name, {
    port: freePort(),
    env: { CLICK_ID_KEYS, LOG_LEVEL: "info", READY_STALL_MS: "1000", ...env },
  });
  cleanups.push(() => stop(handle, 10_000));
  return handle;
}

describe("start in any order", () => {
  test("a service started with NATS down waits, becomes ready when NATS starts, and survives losing it (store and all) later", async () => {
    const db = await createTestDatabase("startorder");
    dbs.push(db);
    const natsPort = freePort();
    const nats = privateNats(natsPort);
    const handle = service("attribution", {
      DATABASE_URL: db.url,
      NATS_URL: `nats://127.0.0.1:${natsPort}`,
      BUS_PREFIX: "",
    });

    // Alive and saying why it is not ready, while NATS is not there.
    const waiting = await eventually(async () => {
      const r = await readyz(handle);
      return r.status === 503 && r.body.reasons?.some((x) => x.startsWith("nats: not available"))
        ? r
        : undefined;
    }, "/readyz to say it waits for nats");
    expect(waiting.body.reasons?.join()).toContain("attempt");
    expect((await fetch(`${handle.url}/healthz`)).status).toBe(200);
    await Bun.sleep(1_500);
    expect(handle.running).toBe(true);
    expect(handle.logTail(50)).toContain('"msg":"nats: not available; retrying"');

    nats.start();
    await waitReady(handle, 30_000);

    // The broker dies and comes back with an empty store: not ready meanwhile, with the reason;
    // ready again by itself (its consumers re-provisioned), never exiting.
    await nats.kill();
    nats.wipe();
    const down = await eventually(async () => {
      const r = await readyz(handle);
      return r.status === 503 ? r : undefined;
    }, "/readyz to turn 503");
    expect(down.body.reasons?.join("\n")).toContain("nats: connection is down for");
    expect(handle.running).toBe(true);
    nats.start();
    // Its consume loops find their streams gone and put them back, saying so at error level.
    await eventually(
      async () => /"level":"error".*re-provisioned the topology/.test(handle.logTail(200)),
      "an error-level re-provision line",
      30_000,
    );
    await waitReady(handle, 30_000);
    expect(handle.running).toBe(true);
  }, 90_000);

  test("a service started with PostgreSQL unreachable becomes ready once it answers, without a restart", async () => {
    const db = await createTestDatabase("startorderpg");
    dbs.push(db);
    const pgPort = freePort();
    const url = new URL(db.url);
    url.port = String(pgPort);
    const handle = service("gateway", {
      DATABASE_URL: url.toString(),
      NATS_URL,
      BUS_PREFIX: `startorder_${crypto.randomUUID().slice(0, 8)}`,
    });
    const waiting = await eventually(async () => {
      const r = await readyz(handle);
      return r.status === 503 && r.body.reasons?.some((x) => x.startsWith("postgres: not available"))
        ? r
        : undefined;
    }, "/readyz to say it waits for postgres");
    expect(waiting.status).toBe(503);
    // Its routes answer 503 too rather than 404 while it starts.
    expect((await fetch(`${handle.url}/postback`)).status).toBe(503);
    await Bun.sleep(1_500);
    expect(handle.running).toBe(true);

    // PostgreSQL "appears" on that port: a plain TCP relay to the real server.
    const real = new URL(db.url);
    const sockets = new Set<net.Socket>();
    const relay = net.createServer((client) => {
      const upstream = net.connect(Number(real.port || 5432), real.hostname);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(pgPort, "127.0.0.1", resolve));
    // After the service stopped (cleanups run in reverse); close() alone would wait for its pool.
    cleanups.unshift(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => relay.close(resolve));
    });
    await waitReady(handle, 30_000);
    expect(handle.logTail(100)).toContain('"msg":"postgres: not available; retrying"');
  }, 90_000);
});
