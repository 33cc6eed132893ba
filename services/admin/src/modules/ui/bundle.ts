import { join } from "node:path";

/** One built file of the console, held in memory (the image's filesystem is read-only). */
export type BuiltFile = { body: ArrayBuffer; type: string };

/**
 * Bundles the console (ui/src/main.tsx: Preact components, uPlot, their CSS) with Bun's bundler
 * when admin starts. There is no build step to forget: `bun run up`, the image and the tests all
 * serve what the sources say. A failed build is an error on the console's files, never on the API.
 */
export async function bundleConsole(uiDir: string): Promise<Map<string, BuiltFile>> {
  const result = await Bun.build({
    entrypoints: [join(uiDir, "src", "main.tsx")],
    tsconfig: join(uiDir, "tsconfig.json"),
    target: "browser",
    // Workspace packages (@roundtrip/client) from their TypeScript sources, not a published build.
    conditions: ["@roundtrip/source"],
    format: "esm",
    minify: true,
    sourcemap: "none",
    naming: { entry: "[name].[ext]", asset: "[name].[ext]", chunk: "[name]-[hash].[ext]" },
    define: { "process.env.NODE_ENV": '"production"' },
  });
  if (!result.success) throw new AggregateError(result.logs, "console bundle failed");
  const files = new Map<string, BuiltFile>();
  for (const output of result.outputs) {
    const name = output.path.replace(/^.*\//, "");
    files.set(name, { body: await output.arrayBuffer(), type: output.type });
  }
  return files;
}
