import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export type Series = { label: string; values: (number | null)[]; format: (v: number) => string };

const COUNT_STEPS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8,
];
const COLORS = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2"];

/** A tooltip beside the cursor with every series' value on that day (uPlot draws the cursor). */
function tooltip(series: Series[]): uPlot.Plugin {
  let tip: HTMLDivElement;
  return {
    hooks: {
      init: (u) => {
        tip = document.createElement("div");
        tip.className = "chart-tip";
        tip.setAttribute("role", "status");
        u.over.appendChild(tip);
      },
      setCursor: (u) => {
        const i = u.cursor.idx;
        if (i === null || i === undefined || u.cursor.left === undefined || u.cursor.left < 0) {
          tip.style.display = "none";
          return;
        }
        const day = new Date((u.data[0][i] ?? 0) * 1000).toISOString().slice(0, 10);
        tip.replaceChildren(
          Object.assign(document.createElement("strong"), { textContent: day }),
          ...series.map((s, k) => {
            const v = u.data[k + 1]?.[i];
            return Object.assign(document.createElement("div"), {
              textContent: `${s.label}: ${v === null || v === undefined ? "—" : s.format(v)}`,
            });
          }),
        );
        tip.style.display = "block";
        const left = Math.min(u.cursor.left + 12, u.over.clientWidth - tip.offsetWidth);
        tip.style.left = `${Math.max(0, left)}px`;
        tip.style.top = `${Math.max(0, (u.cursor.top ?? 0) - 10)}px`;
      },
    },
  };
}

/**
 * A daily line chart: one series per currency (or per measure), days on the x axis, values in
 * their own format on the y axis, a tooltip with every series on the hovered day. The chart is
 * created once per mount and resized with its box; new data replaces it.
 */
export function Chart(p: { title: string; days: string[]; series: Series[]; id?: string; counts?: boolean }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const xs = p.days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
    const first = p.series[0];
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth),
      height: 220,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "UTC"),
      legend: { show: p.series.length > 1, live: false },
      cursor: { drag: { x: false, y: false }, points: { size: 7 } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        {
          stroke: "#475569",
          grid: { stroke: "#e2e8f0" },
          values: "{MMM} {D}" as unknown as uPlot.Axis.Values,
        },
        {
          stroke: "#475569",
          grid: { stroke: "#e2e8f0" },
          size: 70,
          // Counts tick at whole numbers (no "0.25 clicks").
          ...(p.counts ? { incrs: COUNT_STEPS } : {}),
          values: (_u, ticks) => ticks.map((t) => (first ? first.format(t) : String(t))),
        },
      ],
      series: [
        {},
        ...p.series.map((s, i) => ({
          label: s.label,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          fill: `${COLORS[i % COLORS.length]}14`,
          points: { show: xs.length < 40 },
        })),
      ],
      plugins: [tooltip(p.series)],
    };
    const plot = new uPlot(opts, [xs, ...p.series.map((s) => s.values)] as uPlot.AlignedData, el);
    const resize = new ResizeObserver(() =>
      plot.setSize({ width: Math.max(240, el.clientWidth), height: 220 }),
    );
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [p.days, p.series]);
  return (
    <figure class="card chart" id={p.id} aria-label={p.title}>
      <figcaption>{p.title}</figcaption>
      <div ref={box} class="chart-box" />
      <table class="sr-only">
        <caption>{p.title}</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            {p.series.map((s) => (
              <th key={s.label} scope="col">
                {s.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {p.days.map((d, i) => (
            <tr key={d}>
              <th scope="row">{d}</th>
              {p.series.map((s) => {
                const v = s.values[i];
                return <td key={s.label}>{v === null || v === undefined ? "—" : s.format(v)}</td>;
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
