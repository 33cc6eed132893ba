import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { generate, PACKAGE_DIR } from "./generate.ts";

test("the committed documents and types are what the services serve now (else: bun run generate in packages/client)", async () => {
  const files = await generate();
  expect([...files.keys()].sort()).toEqual([
    "openapi/admin.json",
    "openapi/gateway.json",
    "src/generated/admin.ts",
    "src/generated/gateway.ts",
  ]);
  const stale = [...files].filter(([path, text]) => {
    try {
      return readFileSync(join(PACKAGE_DIR, path), "utf8") !== text;
    } catch {
      return true;
    }
  });
  expect(
    stale.map(([path]) => path),
    "an API changed: run `bun run generate` in packages/client and commit what it wrote (on a rebase conflict in these files, take either side, then generate)",
  ).toEqual([]);
}, 60_000);
