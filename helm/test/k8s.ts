// Validates rendered objects against the Kubernetes schemas shipped by kubernetes-models.
//
// `.validate()` checks types, enums and required fields but, like the OpenAPI schemas it is built
// from, accepts unknown fields. The API server (kubectl's strict field validation) rejects them, so
// `unknownFields` walks the same models' type declarations and reports every key the schema does
// not define — a misspelt `readinesProbe` fails here instead of at deploy time.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { K8sObject } from "./helm.ts";

const MODELS_DIR = dirname(Bun.resolveSync("kubernetes-models/package.json", import.meta.dir));

interface Model {
  validate(): void;
}
type ModelClass = new (data: object) => Model;

async function modelClass(apiVersion: string, kind: string): Promise<ModelClass> {
  const mod = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, ModelClass>;
  const cls = mod[kind];
  if (!cls) throw new Error(`kubernetes-models has no ${apiVersion} ${kind}`);
  return cls;
}

// ---- unknown-field walk over the .d.ts declarations -------------------------------------------

interface DeclFile {
  imports: Map<string, string>; // imported name -> module specifier
  aliases: Map<string, string>; // exported alias -> local interface name
  interfaces: Map<string, Map<string, string>>; // interface -> property -> type text
}

const files = new Map<string, DeclFile>();

function loadDecl(path: string): DeclFile {
  const cached = files.get(path);
  if (cached) return cached;
  const text = readFileSync(path, "utf8");
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/import \{ ([^}]+) \} from "([^"]+)";/g)) {
    for (const part of (m[1] ?? "").split(",")) {
      const name = part
        .trim()
        .split(/\s+as\s+/)
        .pop();
      if (name) imports.set(name, m[2] ?? "");
    }
  }
  const aliases = new Map<string, string>();
  for (const m of text.matchAll(/export type \{ ([^}]+) \};/g)) {
    for (const part of (m[1] ?? "").split(",")) {
      const [local, alias] = part.trim().split(/\s+as\s+/);
      if (local && alias) aliases.set(alias, local);
    }
  }
  const interfaces = new Map<string, Map<string, string>>();
  for (const m of text.matchAll(/export interface (\w+)(?: extends [^{]+)? \{\n([\s\S]*?)\n\}/g)) {
    const props = new Map<string, string>();
    for (const p of (m[2] ?? "").matchAll(/^ {4}"([^"]+)"\??: (\{[\s\S]*?\n {4}\}|[^\n]*);$/gm)) {
      props.set(p[1] ?? "", p[2] ?? "");
    }
    interfaces.set(m[1] ?? "", props);
  }
  const decl = { imports, aliases, interfaces };
  files.set(path, decl);
  return decl;
}

interface Iface {
  file: string;
  props: Map<string, string>;
}

function resolveType(file: string, name: string): Iface | null {
  const decl = loadDecl(file);
  const local = decl.interfaces.get(name);
  if (local) return { file, props: local };
  const spec = decl.imports.get(name);
  if (!spec) return null;
  const target = spec.startsWith(".")
    ? join(dirname(file), spec.replace(/\.js$/, ".d.ts"))
    : Bun.resolveSync(spec, dirname(file)).replace(/\.js$/, ".d.ts");
  const targetDecl = loadDecl(target);
  const iface = targetDecl.interfaces.get(targetDecl.aliases.get(name) ?? name);
  return iface ? { file: target, props: iface } : null; // a type alias (Quantity, IntOrString): a leaf
}

function walk(value: unknown, type: string, file: string, path: string, errors: string[]): void {
  const t = type.trim();
  const array = /^Array<(.*)>$/s.exec(t);
  if (array) {
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) walk(v, array[1] ?? "", file, `${path}[${i}]`, errors);
    }
    return;
  }
  const map = /^\{\s*\[key: string\]: ([\s\S]*);\s*\}$/.exec(t);
  if (map) {
    if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(v, map[1] ?? "", file, `${path}.${k}`, errors);
    }
    return;
  }
  if (!/^\w+$/.test(t) || value === null || typeof value !== "object" || Array.isArray(value)) return;
  const iface = resolveType(file, t);
  if (!iface) return;
  for (const [k, v] of Object.entries(value)) {
    const propType = iface.props.get(k);
    if (propType === undefined) errors.push(`${path}.${k}: unknown field`);
    else walk(v, propType, iface.file, `${path}.${k}`, errors);
  }
}

export function unknownFields(obj: K8sObject): string[] {
  const file = join(MODELS_DIR, obj.apiVersion, `${obj.kind}.d.ts`);
  const errors: string[] = [];
  walk(obj, `I${obj.kind}`, file, obj.kind, errors);
  return errors;
}

// ---- CRDs (Prometheus Operator): structural checks --------------------------------------------

const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;

function checkServiceMonitor(o: K8sObject): string[] {
  const e: string[] = [];
  const spec = o.spec ?? {};
  if (!spec.selector || typeof spec.selector !== "object") e.push("spec.selector missing");
  if (!Array.isArray(spec.endpoints) || spec.endpoints.length === 0) e.push("spec.endpoints missing");
  for (const [i, ep] of (spec.endpoints ?? []).entries()) {
    if (typeof ep.port !== "string") e.push(`spec.endpoints[${i}].port must be a port name`);
    if (ep.path !== undefined && !String(ep.path).startsWith("/")) e.push(`spec.endpoints[${i}].path`);
    for (const k of ["interval", "scrapeTimeout"]) {
      if (ep[k] !== undefined && !DURATION.test(ep[k])) e.push(`spec.endpoints[${i}].${k} is not a duration`);
    }
    for (const r of [...(ep.relabelings ?? []), ...(ep.metricRelabelings ?? [])]) {
      for (const k of Object.keys(r)) {
        const known = [
          "sourceLabels",
          "separator",
          "targetLabel",
          "regex",
          "modulus",
          "replacement",
          "action",
        ];
        if (!known.includes(k)) e.push(`spec.endpoints[${i}] relabeling has unknown field ${k}`);
      }
    }
  }
  const extra = Object.keys(spec).filter(
    (k) =>
      !["endpoints", "selector", "namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels"].includes(
        k,
      ),
  );
  if (extra.length > 0) e.push(`spec has unexpected fields ${extra.join(", ")}`);
  return e;
}

function checkPrometheusRule(o: K8sObject): string[] {
  const e: string[] = [];
  const groups = o.spec?.groups;
  if (!Array.isArray(groups) || groups.length === 0) return ["spec.groups missing"];
  for (const g of groups) {
    if (typeof g.name !== "string") e.push("group without name");
    for (const r of g.rules ?? []) {
      if (typeof r.expr !== "string" || r.expr.length === 0) e.push(`${g.name}: rule without expr`);
      if ((r.alert === undefined) === (r.record === undefined))
        e.push(`${g.name}: a rule needs exactly one of alert/record`);
      if (r.for !== undefined && !DURATION.test(r.for)) e.push(`${g.name}/${r.alert}: for is not a duration`);
      for (const k of ["labels", "annotations"]) {
        for (const v of Object.values(r[k] ?? {}))
          if (typeof v !== "string") e.push(`${g.name}: ${k} values must be strings`);
      }
    }
  }
  return e;
}

/** Every problem with one rendered object; empty when it is valid. */
export async function validateObject(o: K8sObject): Promise<string[]> {
  const where = `${o.kind}/${o.metadata?.name}`;
  const problems: string[] = [];
  if (!o.metadata?.name) problems.push("metadata.name missing");
  else if (o.metadata.name.length > 63 && o.kind !== "ConfigMap" && o.kind !== "Secret") {
    problems.push(`name longer than 63 characters`);
  }
  for (const [k, v] of Object.entries(o.metadata?.labels ?? {})) {
    if (typeof v !== "string" || v.length > 63)
      problems.push(`label ${k} is not a string of at most 63 characters`);
  }
  if (o.apiVersion === "monitoring.coreos.com/v1") {
    if (o.kind === "ServiceMonitor") problems.push(...checkServiceMonitor(o));
    else if (o.kind === "PrometheusRule") problems.push(...checkPrometheusRule(o));
    else problems.push(`no structural check for ${o.kind}`);
  } else {
    try {
      const Cls = await modelClass(o.apiVersion, o.kind);
      new Cls(o).validate();
    } catch (err) {
      problems.push((err as Error).message);
    }
    problems.push(...unknownFields(o));
  }
  return problems.map((p) => `${where}: ${p}`);
}

export async function validateAll(objects: K8sObject[]): Promise<string[]> {
  return (await Promise.all(objects.map(validateObject))).flat();
}
