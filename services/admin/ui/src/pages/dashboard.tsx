import { useMemo } from "preact/hooks";
import { qs } from "../api.ts";
import { Chart, type Series } from "../components/chart.tsx";
import { Card, ErrorBox, Head, Loading, Money, Page, Pct } from "../components/ui.tsx";
import { globalFilters, rangeQuery } from "../filters.ts";
import { money, number } from "../format.ts";
import { isStaff } from "../session.ts";
import { useStore } from "../store.ts";
import { useApi } from "../use-api.ts";
import { Attention } from "./attention.tsx";
import type { PageProps } from "./registry.ts";

type PerfRow = {
  day: string;
  currency: string;
  clicks: number;
  conversions: number;
  revenue?: string;
  payout: string;
};
type PerfTotals = {
  currency: string;
  clicks: number;
  conversions: number;
  approved: number;
  revenue?: string;
  payout: string;
  profit?: string;
};
type Perf = { rows: PerfRow[]; totals: PerfTotals[] };
type CountryRow = {
  country: string;
  currency: string;
  clicks: number;
  unique_clicks: number;
  conversions: number;
  cr: number | null;
  payout: string;
  revenue?: string;
};

function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (
    let t = Date.parse(`${from}T00:00:00Z`);
    t <= Date.parse(`${to}T00:00:00Z`) && out.length < 400;
    t += 86_400_000
  )
    out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

/** Totals and daily charts for the global range; money never adds one currency to another. */
export function DashboardPage({ me }: PageProps) {
  const f = useStore(globalFilters);
  const staff = isStaff(me);
  const path = `/v1/reports/performance${qs({ ...rangeQuery(f), group_by: "day", brand_id: staff ? f.brandId : undefined })}`;
  const { data, error } = useApi<Perf>(path);
  const view = useMemo(() => {
    if (!data) return null;
    const days = daysBetween(f.from, f.to);
    const currencies = data.totals.map((t) => t.currency).filter((c) => c);
    const count = (key: "clicks" | "conversions") =>
      days.map((d) => data.rows.filter((r) => r.day === d).reduce((s, r) => s + Number(r[key] ?? 0), 0));
    const perCurrency = (key: "revenue" | "payout"): Series[] =>
      currencies.map((c) => ({
        label: c,
        values: days.map((d) =>
          data.rows
            .filter((r) => r.day === d && r.currency === c)
            .reduce((s, r) => s + Number(r[key] ?? 0), 0),
        ),
        format: (v: number) => money(v, c),
      }));
    const clicks = data.totals.reduce((s, t) => s + t.clicks, 0);
    const conversions = data.totals.reduce((s, t) => s + t.conversions, 0);
    return {
      days,
      clicks,
      conversions,
      traffic: [
        { label: "Clicks", values: count("clicks"), format: number },
        { label: "Conversions", values: count("conversions"), format: number },
      ] as Series[],
      revenue: perCurrency("revenue"),
      payout: perCurrency("payout"),
    };
  }, [data, f.from, f.to]);
  const moneyTotals = (data?.totals ?? []).filter(
    (t) => Number(t.payout) !== 0 || Number(t.revenue ?? 0) !== 0,
  );
  return (
    <Page title="Dashboard" intro={`${f.from} to ${f.to}, test traffic excluded.`}>
      {staff ? <Attention /> : null}
      <ErrorBox error={error} />
      {!view ? (
        error ? null : (
          <Loading />
        )
      ) : (
        <>
          <div class="grid" id="totals">
            <Card>
              <div class="muted">Clicks</div>
              <div class="stat" id="total-clicks" data-value={view.clicks}>
                {number(view.clicks)}
              </div>
            </Card>
            <Card>
              <div class="muted">Conversions</div>
              <div class="stat" id="total-conversions" data-value={view.conversions}>
                {number(view.conversions)}
              </div>
            </Card>
            <Card>
              <div class="muted">Conversion rate</div>
              <div class="stat" id="total-cr">
                <Pct value={view.clicks ? view.conversions / view.clicks : null} />
              </div>
            </Card>
            {moneyTotals.map((t) => (
              <Card key={t.currency} class="money-total">
                <div class="muted">{staff ? `Revenue · payout ${t.currency}` : `Payout ${t.currency}`}</div>
                <div class="stat">
                  {staff ? (
                    <>
                      <Money amount={t.revenue} currency={t.currency} /> ·{" "}
                      <Money amount={t.payout} currency={t.currency} />
                    </>
                  ) : (
                    <Money amount={t.payout} currency={t.currency} />
                  )}
                </div>
                {staff && t.profit !== undefined ? (
                  <div class="muted">
                    profit <Money amount={t.profit} currency={t.currency} />
                  </div>
                ) : null}
              </Card>
            ))}
          </div>
          <ByCountry
            path={`/v1/reports/performance${qs({ ...rangeQuery(f), group_by: "country", brand_id: staff ? f.brandId : undefined })}`}
            staff={staff}
          />
          <div class="grid charts">
            <Chart
              id="chart-traffic"
              counts
              title="Clicks and conversions per day"
              days={view.days}
              series={view.traffic}
            />
            {staff && view.revenue.length > 0 ? (
              <Chart
                id="chart-revenue"
                title="Revenue per day, by currency"
                days={view.days}
                series={view.revenue}
              />
            ) : null}
            {view.payout.length > 0 ? (
              <Chart
                id="chart-payout"
                title="Payout per day, by currency"
                days={view.days}
                series={view.payout}
              />
            ) : null}
          </div>
        </>
      )}
    </Page>
  );
}

/** The range's traffic by the visitor's country (offline GeoIP; "unknown" for a private address). */
function ByCountry({ path, staff }: { path: string; staff: boolean }) {
  const { data, error } = useApi<{ rows: CountryRow[] }>(path);
  if (error) return <ErrorBox error={error} />;
  if (!data || data.rows.length === 0) return null;
  const rows = [...data.rows].sort((a, b) => b.clicks - a.clicks || a.country.localeCompare(b.country));
  return (
    <Card>
      <h2>By country</h2>
      <table id="by-country">
        <caption class="sr-only">Clicks, conversions and payout by the visitor's country</caption>
        <Head
          cols={["Country", "Clicks", "Unique", "Conversions", "CR", ...(staff ? ["Revenue"] : []), "Payout"]}
        />
        <tbody>
          {rows.map((r) => (
            <tr key={`${r.country}:${r.currency}`}>
              <td data-label="Country">{r.country || "unknown"}</td>
              <td data-label="Clicks" class="num">
                {number(r.clicks)}
              </td>
              <td data-label="Unique" class="num">
                {number(r.unique_clicks)}
              </td>
              <td data-label="Conversions" class="num">
                {number(r.conversions)}
              </td>
              <td data-label="CR" class="num">
                <Pct value={r.cr} />
              </td>
              {staff ? (
                <td data-label="Revenue" class="num">
                  <Money amount={r.revenue} currency={r.currency} />
                </td>
              ) : null}
              <td data-label="Payout" class="num">
                <Money amount={r.payout} currency={r.currency} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}
