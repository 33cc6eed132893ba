// Builds the values table of helm/README.md from the `# --` comments of values.yaml.
//   bun helm/test/values-table.ts          print the table
//   bun helm/test/values-table.ts --write  replace the table between the markers in helm/README.md
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isMap, isNode, isScalar, parseDocument, type YAMLMap } from "yaml";

const CHART = join(import.meta.dir, "..", "roundtrip");
export const README = join(import.meta.dir, "..", "README.md");
export const START = "<!-- values-table:start (bun helm/test/values-table.ts --write) -->";
export const END = "<!-- values-table:end -->";

export interface ValueDoc {
  key: string;
  default: string;
  description: string;
}

function docComment(comment: string | null | undefined): string | null {
  if (!comment) return null;
  const lines = comment.split("\n").map((l) => l.replace(/^ ?/, ""));
  const start = lines.findIndex((l) => l.startsWith("-- "));
  if (start < 0) return null;
  return lines
    .slice(start)
    .map((l, i) => (i === 0 ? l.slice(3) : l))
    .join(" ")
    .trim();
}

/** Every value with its default and description; `missing` lists keys without a `# --` comment. */
export function valueDocs(): { docs: ValueDoc[]; missing: string[] } {
  const doc = parseDocument(readFileSync(join(CHART, "values.yaml"), "utf8"));
  const docs: ValueDoc[] = [];
  const missing: string[] = [];
  const walk = (map: YAMLMap, prefix: string) => {
    map.items.forEach((pair, i) => {
      const key = `${prefix}${isScalar(pair.key) ? String(pair.key.value) : "?"}`;
      const before = isScalar(pair.key) ? pair.key.commentBefore : null;
      // The comment above the first key of a nested map belongs to that map in the YAML AST.
      const description = docComment(before) ?? (i === 0 ? docComment(map.commentBefore) : null);
      if (description) {
        docs.push({
          key,
          default: JSON.stringify(isNode(pair.value) ? pair.value.toJSON() : pair.value),
          description,
        });
      } else if (isMap(pair.value) && pair.value.items.length > 0) {
        walk(pair.value, `${key}.`);
      } else {
        missing.push(key);
      }
    });
  };
  walk(doc.contents as YAMLMap, "");
  return { docs, missing };
}

export function valuesTable(): string {
  const cell = (s: string) => s.replaceAll("|", "\\|");
  const rows = valueDocs().docs.map(
    (d) =>
      `| \`${d.key}\` | \`${cell(d.default.length > 80 ? `${d.default.slice(0, 77)}...` : d.default)}\` | ${cell(d.description)} |`,
  );
  return ["| key | default | description |", "|---|---|---|", ...rows].join("\n");
}

export function readmeWithTable(readme: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`helm/README.md lacks the markers ${START} … ${END}`);
  return `${readme.slice(0, start + START.length)}\n${valuesTable()}\n${readme.slice(end)}`;
}

/** A markdown table with its column padding removed (Biome pads the committed one). */
export function unpadTables(markdown: string): string {
  return markdown
    .split("\n")
    .map((line) =>
      line.startsWith("|")
        ? line
            .replace(/ *\| */g, " | ")
            .replace(/\| -+(?= \|)/g, "|---")
            .trim()
        : line,
    )
    .join("\n");
}

/** Whether helm/README.md carries the table values.yaml produces today. */
export function readmeTableIsCurrent(readme: string): boolean {
  return unpadTables(readmeWithTable(readme)) === unpadTables(readme);
}

if (import.meta.main) {
  if (process.argv.includes("--write")) {
    writeFileSync(README, readmeWithTable(readFileSync(README, "utf8")));
    // Pad the table the way `biome check` expects it.
    Bun.spawnSync([
      join(import.meta.dir, "..", "..", "node_modules", ".bin", "biome"),
      "format",
      "--write",
      README,
    ]);
  } else {
    console.log(valuesTable());
  }
}
