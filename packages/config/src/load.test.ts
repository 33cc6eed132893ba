import { describe, expect, test } from "bun:test";
import { Type as t } from "@sinclair/typebox";
import { ConfigError, loadConfig } from "./load.ts";
import { serviceEnv } from "./service-env.ts";

const schema = serviceEnv(8081, { CLICK_ID_KEYS: t.String({ minLength: 3 }) });
const good = {
  DATABASE_URL: "postgres://postgres@127.0.0.1:5432/x",
  NATS_URL: "nats://127.0.0.1:4222",
  CLICK_ID_KEYS: "k1:secret",
};

describe("loadConfig", () => {
  test("applies defaults and converts numbers", () => {
    const config = loadConfig(schema, { ...good, SHUTDOWN_TIMEOUT_MS: "2500" });
    expect(config.PORT).toBe(8081);
    expect(config.SHUTDOWN_TIMEOUT_MS).toBe(2500);
    expect(config.LOG_LEVEL).toBe("info");
  });

  test("a missing variable fails with its name", () => {
    const { NATS_URL: _, ...withoutNats } = good;
    expect(() => loadConfig(schema, withoutNats)).toThrow(/NATS_URL is required/);
  });

  test("an empty variable counts as missing", () => {
    expect(() => loadConfig(schema, { ...good, DATABASE_URL: "" })).toThrow(/DATABASE_URL is required/);
  });

  test("a bad value names the variable and every problem is reported", () => {
    try {
      loadConfig(schema, { ...good, PORT: "eighty", LOG_LEVEL: "loud" });
      throw new Error("expected a ConfigError");
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const names = (err as ConfigError).problems.map((p) => p.variable).sort();
      expect(names).toEqual(["LOG_LEVEL", "PORT"]);
      expect((err as ConfigError).message).toContain("PORT is invalid");
    }
  });
});
