import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { servedDocument } from "./print.ts";

/**
 * The typed client (packages/client, used by the console and the end-to-end tests) is generated
 * from this document and committed; here, beside the routes, so a route change without a
 * regeneration fails where route changes are tested (packages/client's own test checks the
 * generated types as well).
 */
test("@roundtrip/client was generated from this admin's document (else: bun run generate in packages/client)", async () => {
  const committed = JSON.parse(
    readFileSync(Bun.resolveSync("@roundtrip/client/openapi/admin.json", import.meta.dir), "utf8"),
  );
  expect(
    committed,
    "an admin route changed: run `bun run generate` in packages/client and commit what it writes (on a rebase conflict in packages/client/openapi or src/generated, take either side, then generate)",
  ).toEqual(await servedDocument());
});
