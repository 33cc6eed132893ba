import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { publish } from "./publish.ts";
import { subscribe } from "./subscribe.ts";
import { type TestBus, testBus, waitFor } from "./test-support.ts";
import { subjects } from "./topology.ts";

let t: TestBus;
beforeAll(async () => {
  t = await testBus();
});
afterAll(() => t.cleanup());

describe("subscribe (ephemeral signals)", () => {
  test("a cache hears configuration changes of its namespace, as logical subjects", async () => {
    const heard: string[] = [];
    const unsubscribe = subscribe(t.bus, subjects.configChangedAll(), (subject) => heard.push(subject));
    await t.bus.nc.flush(); // the subscription is registered before anything is published
    await publish(t.bus, subjects.configChanged("offers"), { id: "1" }, { msgId: "cfg:offers:1" });
    await waitFor(
      () => heard.length,
      (n) => n === 1,
      { what: "the change" },
    );
    expect(heard).toEqual(["config.changed.offers"]);
    unsubscribe();
    await publish(t.bus, subjects.configChanged("links"), { id: "2" }, { msgId: "cfg:links:2" });
    await t.bus.nc.flush();
    expect(heard).toHaveLength(1);
  });
});
