import { Card, ErrorBox, Money, Pct } from "../components/ui.tsx";
import { number } from "../format.ts";
import { href } from "../route.ts";
import { useApi } from "../use-api.ts";

/** GET /v1/attention: what is costing money now, each with where to fix it. */
export type AttentionItem = {
  kind: string;
  severity: "critical" | "warning";
  title: string;
  detail: string;
  count: number;
  /** Where the fix is: a console page and its parameters. */
  fix: { page: string; params?: Record<string, string>; label: string };
  amount?: { value: string; currency: string } | null;
  rate?: number | null;
};

export function Attention() {
  const { data, error } = useApi<{ items: AttentionItem[]; checked_at: string }>("/v1/attention");
  if (error) return <ErrorBox error={error} />;
  if (!data) return null;
  return (
    <Card class="attention" title="Needs attention">
      {data.items.length === 0 ? (
        <p class="ok-text" id="attention-clear">
          Nothing is blocked, failing or owed.
        </p>
      ) : (
        <ul id="attention">
          {data.items.map((item) => (
            <li key={`${item.kind}:${item.title}`} class={`attention-item ${item.severity}`}>
              <div>
                <strong>{item.title}</strong> <span class="count">{number(item.count)}</span>
                {item.amount ? (
                  <>
                    {" "}
                    · <Money amount={item.amount.value} currency={item.amount.currency} />
                  </>
                ) : null}
                {item.rate !== undefined && item.rate !== null ? (
                  <>
                    {" "}
                    · <Pct value={item.rate} />
                  </>
                ) : null}
                <div class="muted">{item.detail}</div>
              </div>
              <a class="button" href={href(item.fix.page, item.fix.params ?? {})}>
                {item.fix.label}
              </a>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}
