import { useId, useState } from "preact/hooks";
import { ApiError } from "../api.ts";

export type Option = { value: string; label: string };
type Base = { name: string; label: string; required?: boolean; help?: string; when?: (v: Values) => boolean };
/**
 * One description of a form field: the same list draws the create form and the edit form.
 * `repeat` is a list of rows of sub-fields (an offer's events); `pairs` is a key → value map
 * (an advertiser's parameter aliases); `lines` is a list of strings, one a line.
 */
export type Field = Base &
  (
    | {
        type?: "text" | "password" | "url" | "date" | "datetime-local" | "textarea";
        placeholder?: string;
        pattern?: string;
      }
    | { type: "number"; min?: number; max?: number; step?: string; placeholder?: string }
    | { type: "decimal"; placeholder?: string }
    | { type: "select"; options: Option[]; empty?: string }
    | { type: "checkbox" }
    | { type: "lines"; placeholder?: string }
    | { type: "pairs"; keyLabel: string; valueLabel: string; valueOptions?: Option[] }
    | { type: "repeat"; fields: Field[]; addLabel: string; min?: number }
    | { type: "file"; accept?: string }
  );
export type Values = Record<string, unknown>;

function Input(p: {
  field: Field;
  value: unknown;
  onChange: (v: unknown) => void;
  id: string;
  invalid: boolean;
}) {
  const f = p.field;
  const common = { id: p.id, name: f.name, required: f.required, "aria-invalid": p.invalid || undefined };
  const str = p.value === undefined || p.value === null ? "" : String(p.value);
  const onText = (e: Event) => p.onChange((e.currentTarget as HTMLInputElement).value);
  switch (f.type) {
    case "select":
      return (
        <select {...common} value={str} onChange={onText}>
          {f.required && str ? null : <option value="">{f.empty ?? "—"}</option>}
          {f.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      );
    case "checkbox":
      return (
        <input
          {...common}
          type="checkbox"
          checked={p.value === true}
          onChange={(e) => p.onChange(e.currentTarget.checked)}
        />
      );
    case "textarea":
      return <textarea {...common} value={str} onInput={onText} rows={4} placeholder={f.placeholder} />;
    case "lines":
      return (
        <textarea
          {...common}
          rows={3}
          placeholder={f.placeholder}
          value={Array.isArray(p.value) ? p.value.join("\n") : str}
          onInput={(e) =>
            p.onChange(
              e.currentTarget.value
                .split("\n")
                .map((s) => s.trim())
                .filter(Boolean),
            )
          }
        />
      );
    case "number":
      return (
        <input
          {...common}
          type="number"
          min={f.min}
          max={f.max}
          step={f.step ?? "1"}
          value={str}
          onInput={onText}
          placeholder={f.placeholder}
        />
      );
    case "decimal":
      return (
        <input
          {...common}
          inputMode="decimal"
          pattern="^\d{1,14}(\.\d{1,6})?$"
          value={str}
          onInput={onText}
          placeholder={f.placeholder ?? "0.00"}
        />
      );
    case "file":
      return (
        <input
          {...common}
          type="file"
          accept={f.accept}
          onChange={(e) => p.onChange(e.currentTarget.files?.[0] ?? null)}
        />
      );
    case "pairs":
      return <Pairs field={f} value={p.value} onChange={p.onChange} />;
    case "repeat":
      return <Repeat field={f} value={p.value} onChange={p.onChange} />;
    default:
      return (
        <input
          {...common}
          type={(f.type ?? "text") as "text"}
          value={str}
          onInput={onText}
          placeholder={f.placeholder}
          pattern={f.pattern}
          autoComplete="off"
        />
      );
  }
}

function Repeat(p: {
  field: Extract<Field, { type: "repeat" }>;
  value: unknown;
  onChange: (v: unknown) => void;
}) {
  const rows = Array.isArray(p.value) ? (p.value as Values[]) : [];
  const set = (i: number, row: Values) => p.onChange(rows.map((r, j) => (j === i ? row : r)));
  return (
    <div class="repeat">
      {rows.map((row, i) => (
        <fieldset key={i} class="repeat-row">
          <legend class="sr-only">
            {p.field.label} {i + 1}
          </legend>
          {p.field.fields.map((sub) => (
            <FieldRow
              key={sub.name}
              field={{ ...sub, label: `${sub.label}` }}
              value={row[sub.name]}
              onChange={(v) => set(i, { ...row, [sub.name]: v })}
            />
          ))}
          <button
            type="button"
            class="ghost"
            aria-label={`Remove ${p.field.label.toLowerCase()} ${i + 1}`}
            disabled={rows.length <= (p.field.min ?? 0)}
            onClick={() => p.onChange(rows.filter((_, j) => j !== i))}
          >
            Remove
          </button>
        </fieldset>
      ))}
      <button type="button" class="secondary" onClick={() => p.onChange([...rows, {}])}>
        {p.field.addLabel}
      </button>
    </div>
  );
}

function Pairs(p: {
  field: Extract<Field, { type: "pairs" }>;
  value: unknown;
  onChange: (v: unknown) => void;
}) {
  const entries = Object.entries((p.value as Record<string, string> | null) ?? {});
  const [rows, setRows] = useState<[string, string][]>(entries);
  const update = (next: [string, string][]) => {
    setRows(next);
    p.onChange(Object.fromEntries(next.filter(([k]) => k.trim() !== "")));
  };
  return (
    <div class="repeat">
      {rows.map(([k, v], i) => (
        <div key={i} class="pair">
          <input
            aria-label={`${p.field.keyLabel} ${i + 1}`}
            value={k}
            onInput={(e) => update(rows.map((r, j) => (j === i ? [e.currentTarget.value, r[1]] : r)))}
          />
          <span aria-hidden="true">→</span>
          {p.field.valueOptions ? (
            <select
              aria-label={`${p.field.valueLabel} ${i + 1}`}
              value={v}
              onChange={(e) => update(rows.map((r, j) => (j === i ? [r[0], e.currentTarget.value] : r)))}
            >
              <option value="">—</option>
              {p.field.valueOptions.map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </select>
          ) : (
            <input
              aria-label={`${p.field.valueLabel} ${i + 1}`}
              value={v}
              onInput={(e) => update(rows.map((r, j) => (j === i ? [r[0], e.currentTarget.value] : r)))}
            />
          )}
          <button
            type="button"
            class="ghost"
            aria-label={`Remove ${p.field.keyLabel} ${i + 1}`}
            onClick={() => update(rows.filter((_, j) => j !== i))}
          >
            Remove
          </button>
        </div>
      ))}
      <button type="button" class="secondary" onClick={() => update([...rows, ["", ""]])}>
        Add {p.field.keyLabel.toLowerCase()}
      </button>
    </div>
  );
}

function FieldRow(p: { field: Field; value: unknown; onChange: (v: unknown) => void; error?: string }) {
  const id = useId();
  const f = p.field;
  const grouped = f.type === "repeat" || f.type === "pairs";
  const help = f.help ? <small id={`${id}-help`}>{f.help}</small> : null;
  if (grouped)
    return (
      <fieldset class="field wide">
        <legend>{f.label}</legend>
        <Input field={f} value={p.value} onChange={p.onChange} id={id} invalid={Boolean(p.error)} />
        {help}
        {p.error ? <small class="error">{p.error}</small> : null}
      </fieldset>
    );
  return (
    <div
      class={`field ${f.type === "checkbox" ? "check" : ""} ${f.type === "textarea" || f.type === "lines" ? "wide" : ""}`}
    >
      <label for={id}>{f.label}</label>
      <Input field={f} value={p.value} onChange={p.onChange} id={id} invalid={Boolean(p.error)} />
      {help}
      {p.error ? <small class="error">{p.error}</small> : null}
    </div>
  );
}

/**
 * A form over `fields`. `onSubmit` gets the values; an API error naming a field is shown beside
 * that field, any other above the button. The form stays filled after an error.
 */
export function Form(p: {
  fields: Field[];
  initial?: Values;
  submit: string;
  onSubmit: (values: Values) => Promise<unknown>;
  onCancel?: () => void;
  id?: string;
  resetOnSuccess?: boolean;
}) {
  const [values, setValues] = useState<Values>(p.initial ?? {});
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [busy, setBusy] = useState(false);
  const fieldError = (name: string) =>
    error instanceof ApiError &&
    error.field &&
    (error.field === name ||
      error.field.startsWith(`${name}.`) ||
      error.field.startsWith(`${name}[`) ||
      error.field.startsWith(`/${name}`))
      ? error.message
      : undefined;
  const named = error instanceof ApiError && p.fields.some((f) => fieldError(f.name));
  return (
    <form
      id={p.id}
      class="form"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          await p.onSubmit(values);
          if (p.resetOnSuccess !== false) setValues(p.initial ?? {});
        } catch (err) {
          setError(err as Error);
        } finally {
          setBusy(false);
        }
      }}
    >
      <div class="fields">
        {p.fields
          .filter((f) => !f.when || f.when(values))
          .map((f) => (
            <FieldRow
              key={f.name}
              field={f}
              value={values[f.name]}
              error={fieldError(f.name)}
              onChange={(v) => setValues((old) => ({ ...old, [f.name]: v }))}
            />
          ))}
      </div>
      {error && !named ? (
        <p class="error" role="alert">
          {error.message}
        </p>
      ) : error ? (
        <p class="error" role="alert">
          Check the highlighted field: {error.message}
        </p>
      ) : null}
      <div class="buttons">
        <button type="submit" disabled={busy}>
          {p.submit}
        </button>
        {p.onCancel ? (
          <button type="button" class="secondary" onClick={p.onCancel}>
            Cancel
          </button>
        ) : null}
      </div>
    </form>
  );
}

/**
 * The request body from form values: empty text is left out, numbers become numbers; for an
 * edit only what changed from `before` is sent (a PATCH names only the fields it changes).
 */
export function bodyOf(fields: Field[], values: Values, before?: Values): Values {
  const out: Values = {};
  for (const f of fields) {
    if (f.when && !f.when(values)) continue;
    let v = values[f.name];
    if (f.type === "number" && v !== undefined && v !== "" && v !== null) v = Number(v);
    if (f.type === "repeat" && Array.isArray(v)) v = v.map((row) => bodyOf(f.fields, row as Values));
    if (v === undefined || v === "" || v === null) {
      if (before && before[f.name] !== undefined && before[f.name] !== null && f.type !== "password")
        out[f.name] = null;
      continue;
    }
    if (before && JSON.stringify(before[f.name]) === JSON.stringify(v)) continue;
    out[f.name] = v;
  }
  return out;
}
