import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "./nats-server.ts";

const server = new NatsServer();
afterAll(() => server.dispose());

async function streams(): Promise<string[]> {
  const nc = await connect({ servers: server.url, reconnect: false });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const name of jsm.streams.names()) names.push(name);
    return names;
  } finally {
    await nc.close();
  }
}

async function addStream(name: string): Promise<void> {
  const nc = await connect({ servers: server.url, reconnect: false });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name, subjects: [`${name}.>`] });
  } finally {
    await nc.close();
  }
}

describe("a private nats-server", () => {
  test("keeps its store over kill -9 and a restart on the same port, loses it when wiped", async () => {
    await server.start();
    await addStream("KEPT");
    const port = server.port;

    await server.kill();
    expect(server.running).toBe(false);
    expect(server.process?.signalCode).toBe("SIGKILL");
    await server.start();
    expect(server.port).toBe(port);
    expect(await streams()).toEqual(["KEPT"]);

    await server.stop();
    expect(() => server.wipeStore()).not.toThrow();
    expect(existsSync(server.storeDir)).toBe(false);
    await server.start();
    expect(await streams()).toEqual([]);
  });

  test("refuses to wipe the store of a running server", async () => {
    if (!server.running) await server.start();
    expect(() => server.wipeStore()).toThrow("stop nats-server");
  });
});
