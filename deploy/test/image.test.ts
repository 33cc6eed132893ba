// The image build: local state never enters the build context; the base image is an exact release.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./promql.ts";

const ignore = readFileSync(join(REPO, ".dockerignore"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));

test(".dockerignore keeps bun run up's state, test output and key files out of the build context", () => {
  for (const entry of [
    "**/.data",
    "test-results",
    "bench/results",
    ".env",
    "**/*.pem",
    "**/node_modules",
    ".git",
  ])
    expect(ignore).toContain(entry);
});

test("the base image is pinned to the exact Bun release of package.json, never a floating tag", () => {
  const dockerfile = readFileSync(join(REPO, "Dockerfile"), "utf8");
  const tag = /^ARG BUN_TAG=(\S+)$/m.exec(dockerfile)?.[1];
  const packageManager = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"))
    .packageManager as string;
  expect(tag).toBe(packageManager.replace(/^bun@/, ""));
  for (const from of dockerfile.match(/^FROM \S+/gm) ?? []) {
    const image = from.slice(5);
    // The one base image, always through the pinned ARG (a literal tag here could float).
    expect(image === "runtime" || image === "oven/bun:$" + "{BUN_TAG}", from).toBe(true);
  }
});
