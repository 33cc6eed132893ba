/**
 * `bun run up`: the whole stack on this machine. This file imports nothing outside Bun and node:
 * it first runs `bun install` (so a pull that added a dependency cannot break start-up), then
 * loads the stack runner.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");

// Always: after a pull that added a dependency, node_modules exists but lacks it, and every
// service would fail at start-up. With nothing to do `bun install` takes a fraction of a second.
const fresh = !existsSync(join(root, "node_modules"));
if (fresh) console.log("installing dependencies (bun install)…");
const install = Bun.spawnSync([process.execPath, "install"], {
  cwd: root,
  stdio: ["inherit", fresh ? "inherit" : "pipe", fresh ? "inherit" : "pipe"],
});
if (install.exitCode !== 0) {
  if (!fresh) process.stderr.write(`${install.stdout}${install.stderr}`);
  console.error(`bun install failed (exit code ${install.exitCode})`);
  process.exit(1);
}

const { main } = await import("./local-stack.ts");
process.exit(await main());
