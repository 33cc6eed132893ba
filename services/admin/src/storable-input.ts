import { unstorable } from "@roundtrip/contracts";
import { HttpError } from "@roundtrip/service";
import { Elysia } from "elysia";

// Tab, line feed and carriage return are text (templates, CSV); the other C0 controls and DEL
// mean nothing in a name, a filter or a template, and only confuse whoever reads them later.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const CONTROL = /[\u0001-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

/** What is wrong with one string of a request, or null. */
export function textProblem(text: string): string | null {
  return unstorable(text) ?? (CONTROL.test(text) ? "contains a control character" : null);
}

/** The first string (key or value) of a request part that is not storable text, with its path. */
export function firstBadText(value: unknown, path: string): { field: string; problem: string } | null {
  if (typeof value === "string") {
    const problem = textProblem(value);
    return problem ? { field: path || "(body)", problem } : null;
  }
  if (value === null || typeof value !== "object" || value instanceof Blob) return null;
  for (const [k, v] of Object.entries(value)) {
    const field = path ? `${path}.${k}` : k;
    const problem = textProblem(k);
    if (problem) return { field, problem: `its name ${problem}` };
    const inner = firstBadText(v, field);
    if (inner) return inner;
  }
  return null;
}

/**
 * Every string admin receives — path, query and body, keys and values — is text PostgreSQL can
 * store unchanged: a NUL would fail the query (a 500), a lone surrogate would be stored as U+FFFD
 * (silently changed), a control character would be stored as is. Each is refused with a 400
 * naming the field, in one place, before any handler runs.
 */
export function storableInput() {
  return new Elysia({ name: "storable-input" }).onBeforeHandle(
    { as: "global" },
    ({ params, query, body }) => {
      const bad = firstBadText(params, "") ?? firstBadText(query, "") ?? firstBadText(body, "");
      if (bad) throw new HttpError(400, "invalid_request", `${bad.field}: ${bad.problem}`, bad.field);
    },
  );
}
