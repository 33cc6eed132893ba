import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { isStackError, StackError } from "./errors.ts";
import { freePort, freePorts } from "./ports.ts";
import { runCommand, type ServiceHandle, startService, stop, waitReady } from "./process.ts";
import { startStack } from "./stack.ts";

const fixture = (name: string) => resolve(import.meta.dir, "fixtures", name);
const bun = process.execPath;
const started: ServiceHandle[] = [];

function startFixture(script: string, env: Record<string, string> = {}, extra: { logFile?: string } = {}) {
  const handle = startService("fixture", {
    port: freePort(),
    command: [bun, fixture(script)],
    env,
    ...extra,
  });
  started.push(handle);
  return handle;
}

async function rejection(promise: Promise<unknown>): Promise<StackError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof StackError) return err;
    throw err;
  }
  throw new Error("expected a rejection");
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((h) => stop(h, 1_000)));
});

describe("freePort", () => {
  test("returns a port we can listen on", () => {
    const port = freePort();
    expect(port).toBeGreaterThan(0);
    const server = Bun.serve({ hostname: "127.0.0.1", port, fetch: () => new Response("ok") });
    expect(server.port).toBe(port);
    server.stop(true);
  });

  test("freePorts gives distinct ports", () => {
    const ports = freePorts(6);
    expect(new Set(ports).size).toBe(6);
  });
});

describe("startService / waitReady", () => {
  test("a service that crashes at start-up fails fast with its log tail", async () => {
    const handle = startFixture("crash.ts");
    const t0 = Date.now();
    const err = await rejection(waitReady(handle, 20_000));
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(err.code).toBe("service_exited");
    expect(err.message).toContain("exited with code 3");
    expect(err.logTail).toContain("config error: DATABASE_URL is required");
    expect(err.message).toContain("starting fixture service");
    expect(handle.running).toBe(false);
  });

  test("a service that never gets ready fails at the deadline with the last /readyz answer", async () => {
    const handle = startFixture("serve.ts", { READYZ_STATUS: "503" });
    const err = await rejection(waitReady(handle, 1_500));
    expect(isStackError(err, "service_not_ready")).toBe(true);
    expect(err.message).toContain("503 database: down");
    expect(err.logTail).toContain("listening on");
  });

  test("passes PORT and the given environment, and writes the log file", async () => {
    const logFile = join(mkdtempSync(join(tmpdir(), "stack-log-")), "fixture.log");
    const handle = startFixture("serve.ts", { GREETING: "hello" }, { logFile });
    await waitReady(handle, 10_000);
    const body = await (await fetch(`${handle.url}/env`)).json();
    expect(body).toEqual({ greeting: "hello" });
    await stop(handle, 5_000);
    expect(readFileSync(logFile, "utf8")).toContain(`listening on ${handle.port}`);
  });

  test("waitReady on a bare URL times out when nothing listens", async () => {
    const err = await rejection(waitReady(`http://127.0.0.1:${freePort()}`, 300));
    expect(err.code).toBe("service_not_ready");
  });
});

describe("stop", () => {
  test("sends SIGTERM and the service drains and exits 0", async () => {
    const handle = startFixture("serve.ts");
    await waitReady(handle, 10_000);
    const result = await stop(handle, 5_000);
    expect(result).toEqual({ exitCode: 0, signalCode: null, killed: false });
    expect(handle.logTail()).toContain("got SIGTERM, draining");
  });

  test("escalates to SIGKILL when SIGTERM is ignored past the timeout", async () => {
    const handle = startFixture("serve.ts", { IGNORE_SIGTERM: "1" });
    await waitReady(handle, 10_000);
    const t0 = Date.now();
    const result = await stop(handle, 500);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    expect(result.killed).toBe(true);
    expect(result.signalCode).toBe("SIGKILL");
    expect(handle.logTail()).toContain("got SIGTERM, ignoring it");
    // A second stop is a no-op.
    expect((await stop(handle, 500)).killed).toBe(false);
  });
});

describe("runCommand", () => {
  test("a failing command fails with its output", async () => {
    const err = await rejection(runCommand("migrate", [bun, fixture("fail-command.ts")]));
    expect(err.code).toBe("command_failed");
    expect(err.message).toContain("exited with code 1");
    expect(err.logTail).toContain("migration 0002 failed");
  });
});

describe("startStack (fixture services)", () => {
  const base = {
    databaseUrl: "postgres://unused",
    natsUrl: "nats://unused",
    migrate: false,
    provision: false,
    ports: "free" as const,
  };

  test("starts the chosen services on free ports and stops them", async () => {
    const stack = await startStack({
      ...base,
      services: ["click", "gateway"],
      command: () => [bun, fixture("serve.ts")],
    });
    expect(Object.keys(stack.urls).sort()).toEqual(["click", "gateway"]);
    expect(stack.urls.click).not.toBe(stack.urls.gateway);
    expect((await fetch(`${stack.urls.click}/readyz`)).status).toBe(200);
    await stack.stop();
    expect(stack.services.click.running).toBe(false);
    expect(stack.services.gateway.exitCode).toBe(0);
  });

  test("one crashing service fails the start with its tail and stops the others", async () => {
    const markFile = join(mkdtempSync(join(tmpdir(), "stack-mark-")), "click");
    const err = await rejection(
      startStack({
        ...base,
        services: ["click", "delivery"],
        serviceEnv: { click: { MARK_FILE: markFile } },
        command: (name) => [bun, fixture(name === "delivery" ? "crash.ts" : "serve.ts")],
      }),
    );
    expect(err.code).toBe("service_exited");
    expect(err.message).toContain("delivery exited with code 3");
    expect(err.logTail).toContain("config error");
    expect(readFileSync(markFile, "utf8")).toBe("SIGTERM\n");
  });

  test("kill -9 one service, then start it again on the same port", async () => {
    const markFile = join(mkdtempSync(join(tmpdir(), "stack-mark-")), "click");
    const stack = await startStack({
      ...base,
      services: ["click", "gateway"],
      serviceEnv: { click: { MARK_FILE: markFile } },
      command: () => [bun, fixture("serve.ts")],
    });
    try {
      const before = stack.services.click;
      await stack.kill("click");
      expect(before.signalCode).toBe("SIGKILL");
      expect(existsSync(markFile)).toBe(false); // no SIGTERM: nothing drained
      expect(stack.services.gateway.running).toBe(true);
      await expect(stack.start("gateway")).rejects.toThrow("gateway is still running");

      const after = await stack.start("click");
      expect(after.pid).not.toBe(before.pid);
      expect(after.url).toBe(before.url);
      expect(stack.services.click).toBe(after);
      expect((await fetch(`${stack.urls.click}/readyz`)).status).toBe(200);
    } finally {
      await stack.stop();
    }
  });

  test("migration failure stops start-up before any service starts", async () => {
    const err = await rejection(
      startStack({
        ...base,
        migrate: true,
        cwd: mkdtempSync(join(tmpdir(), "stack-empty-repo-")),
        services: ["click"],
        command: () => [bun, fixture("serve.ts")],
      }),
    );
    expect(err.code).toBe("command_failed");
    expect(err.message).toContain("migrate");
  });
});
