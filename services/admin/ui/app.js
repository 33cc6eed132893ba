// Roundtrip console: a small single-page app over the admin API (/v1). No framework, no build:
// every page is a function that fetches with the API key and builds DOM nodes (text is always
// set as text, never as HTML, so nothing from the API can inject markup).

const KEY = "roundtrip.apiKey";
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
let me = null;

// ---------------------------------------------------------------------------------- helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** `el.append` for children that may be arrays or absent. */
function add(el, ...children) {
  el.append(
    ...children.flat(Number.POSITIVE_INFINITY).filter((c) => c !== null && c !== undefined && c !== false),
  );
}

function toast(message) {
  const t = document.getElementById("toast");
  t.textContent = message;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 2500);
}

class ApiError extends Error {}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(KEY)}` };
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: payload });
  if (res.status === 401 && path !== "/v1/me") {
    signOut();
    throw new ApiError("signed out: the API key is unknown or revoked");
  }
  const type = res.headers.get("content-type") ?? "";
  const data = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    const e = data?.error;
    throw new ApiError(
      e
        ? `${e.message}${e.field && !e.message.startsWith(e.field) ? ` (${e.field})` : ""}`
        : `HTTP ${res.status}`,
    );
  }
  return data;
}

async function download(path, filename) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${sessionStorage.getItem(KEY)}` } });
  if (!res.ok) return toast(`download failed: HTTP ${res.status}`);
  const url = URL.createObjectURL(await res.blob());
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

function copyable(text, label = "Copy") {
  return h(
    "span",
    { class: "copy" },
    h("code", {}, text),
    h(
      "button",
      {
        type: "button",
        class: "secondary",
        onclick: async () => {
          try {
            await navigator.clipboard.writeText(text);
            toast("copied");
          } catch {
            toast("select the text and copy it");
          }
        },
      },
      label,
    ),
  );
}

function badge(value) {
  return h("span", { class: `badge ${value}` }, value);
}

function errorBox(err) {
  return h("p", { class: "error", role: "alert" }, err instanceof Error ? err.message : String(err));
}

function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : "";
}

function fmtTime(v) {
  if (!v) return "";
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString().replace("T", " ").slice(0, 19);
}

/** A <form> of labelled inputs; `onsubmit` gets the values (empty ones left out). */
function form(fields, submitLabel, onsubmit) {
  const inputs = {};
  const el = h("form", {
    class: "inline",
    onsubmit: async (e) => {
      e.preventDefault();
      const values = {};
      for (const f of fields) {
        const input = inputs[f.name];
        let v = f.type === "checkbox" ? input.checked : input.value.trim();
        if (v === "" || v === false) continue;
        if (f.type === "number") v = Number(v);
        values[f.name] = v;
      }
      const button = el.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        await onsubmit(values, el);
      } catch (err) {
        toast(err.message);
        el.querySelector(".form-error")?.remove();
        el.append(h("p", { class: "error form-error", role: "alert" }, err.message));
      } finally {
        button.disabled = false;
      }
    },
  });
  for (const f of fields) {
    let input;
    if (f.type === "select") {
      input = h(
        "select",
        { name: f.name, required: f.required },
        h("option", { value: "" }, f.placeholder ?? "—"),
      );
      Promise.resolve(typeof f.options === "function" ? f.options() : f.options).then((opts) => {
        for (const [value, label] of opts ?? []) input.append(h("option", { value }, label));
        if (f.value !== undefined) input.value = f.value;
      });
    } else if (f.type === "textarea") {
      input = h("textarea", { name: f.name, required: f.required, placeholder: f.placeholder });
    } else {
      input = h("input", {
        name: f.name,
        type:
          f.type === "number"
            ? "number"
            : f.type === "password"
              ? "password"
              : f.type === "checkbox"
                ? "checkbox"
                : "text",
        required: f.required,
        placeholder: f.placeholder,
        value: f.value,
        min: f.min,
        max: f.max,
      });
    }
    inputs[f.name] = input;
    el.append(h("label", {}, f.label, input));
  }
  el.append(h("button", { type: "submit" }, submitLabel));
  return el;
}

const optionsOf = (path, label) => async () => {
  const { data } = await api("GET", `${path}${path.includes("?") ? "&" : "?"}limit=500`);
  return data.map((r) => [r.id, label(r)]);
};
const brandOptions = optionsOf("/v1/brands", (b) => `${b.slug} — ${b.name}`);
const advertiserOptions = optionsOf("/v1/advertisers", (a) => `#${a.id} ${a.name}`);
const offerOptions = optionsOf("/v1/offers", (o) => `#${o.id} ${o.name}`);
const affiliateOptions = optionsOf("/v1/affiliates?is_test=false", (a) => `#${a.id} ${a.name}`);

/** A table of rows from a list endpoint, with "more" paging over next_cursor. */
function table(columns, path, { actions, onRow, empty = "Nothing yet." } = {}) {
  const tbody = h("tbody");
  const wrap = h(
    "div",
    {},
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          columns.map((c) => h("th", {}, c.label)),
          actions ? h("th", {}, "") : null,
        ),
      ),
      tbody,
    ),
  );
  const more = h("button", { type: "button", class: "secondary pager", hidden: true }, "More");
  wrap.append(more);
  let cursor = null;
  const load = async () => {
    const sep = path.includes("?") ? "&" : "?";
    const { data, next_cursor } = await api("GET", `${path}${cursor ? `${sep}cursor=${cursor}` : ""}`);
    if (!cursor && data.length === 0)
      tbody.append(h("tr", {}, h("td", { colspan: columns.length + 1, class: "muted" }, empty)));
    for (const row of data) {
      const tr = h(
        "tr",
        {},
        columns.map((c) => h("td", {}, c.render ? c.render(row) : (row[c.key] ?? ""))),
        actions
          ? h(
              "td",
              {},
              h(
                "div",
                { class: "actions" },
                actions(row, () => reload()),
              ),
            )
          : null,
      );
      if (onRow) {
        tr.style.cursor = "pointer";
        tr.addEventListener("click", (e) => e.target.tagName !== "BUTTON" && onRow(row));
      }
      tbody.append(tr);
    }
    cursor = next_cursor;
    more.hidden = !next_cursor;
  };
  const reload = async () => {
    tbody.replaceChildren();
    cursor = null;
    await load().catch((err) =>
      tbody.append(h("tr", {}, h("td", { colspan: columns.length + 1 }, errorBox(err)))),
    );
  };
  more.addEventListener("click", () => load().catch((err) => toast(err.message)));
  wrap.reload = reload;
  reload();
  return wrap;
}

const staff = () => me && me.role !== "affiliate";
const writer = () => me && (me.role === "admin" || me.role === "manager");

function pauseButton(resource, row, reload) {
  if (!writer() || !row.status) return null;
  const next = row.status === "active" ? "paused" : "active";
  return h(
    "button",
    {
      type: "button",
      class: "secondary",
      onclick: async () => {
        try {
          await api("PATCH", `/v1/${resource}/${row.id}`, { status: next });
          toast(`${resource.replace(/s$/, "")} ${row.id} ${next}`);
          reload();
        } catch (err) {
          toast(err.message);
        }
      },
    },
    next === "paused" ? "Pause" : "Resume",
  );
}

function page(title, ...children) {
  main.replaceChildren(h("h1", {}, title), ...children);
}

// ---------------------------------------------------------------------------------- pages

function barChart(title, points, format = (v) => String(v)) {
  const width = 600;
  const height = 160;
  const max = Math.max(1, ...points.map((p) => p.y));
  const bw = points.length ? (width - 40) / points.length : 0;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  const ns = (tag, attrs, text) => {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.append(el);
    return el;
  };
  ns("text", { x: 0, y: 12 }, format(max));
  points.forEach((p, i) => {
    const bh = Math.round((p.y / max) * (height - 40));
    const rect = ns("rect", {
      x: 30 + i * bw + 2,
      y: height - 20 - bh,
      width: Math.max(1, bw - 4),
      height: bh,
    });
    const tip = document.createElementNS("http://www.w3.org/2000/svg", "title");
    tip.textContent = `${p.x}: ${format(p.y)}`;
    rect.append(tip);
    if (points.length <= 16 || i % Math.ceil(points.length / 8) === 0)
      ns("text", { x: 30 + i * bw + 2, y: height - 5 }, p.x.slice(5));
  });
  return h("div", { class: "card" }, h("h2", {}, title), svg);
}

async function dashboard() {
  const to = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const from = new Date(Date.now() - 13 * 86_400_000).toISOString().slice(0, 10);
  page("Dashboard", h("p", { class: "muted" }, `Last 14 days (${from} – today), test traffic excluded.`));
  try {
    const report = await api("GET", `/v1/reports/performance${qs({ from, to, group_by: "day" })}`);
    const days = [];
    for (
      let d = new Date(`${from}T00:00:00Z`);
      d < new Date(`${to}T00:00:00Z`);
      d = new Date(d.getTime() + 86_400_000)
    )
      days.push(d.toISOString().slice(0, 10));
    const sum = (day, key) =>
      report.rows.filter((r) => r.day === day).reduce((s, r) => s + Number(r[key] ?? 0), 0);
    const totals = report.totals;
    const total = (key) => totals.reduce((s, r) => s + Number(r[key] ?? 0), 0);
    const currencies = [...new Set(totals.map((t) => t.currency))].join("/") || "";
    main.append(
      h(
        "div",
        { class: "grid", id: "totals" },
        h(
          "div",
          { class: "card" },
          h("div", { class: "muted" }, "Clicks"),
          h("div", { class: "stat", id: "total-clicks" }, total("clicks")),
        ),
        h(
          "div",
          { class: "card" },
          h("div", { class: "muted" }, "Conversions"),
          h("div", { class: "stat", id: "total-conversions" }, total("conversions")),
        ),
        staff()
          ? h(
              "div",
              { class: "card" },
              h("div", { class: "muted" }, `Revenue ${currencies}`),
              h("div", { class: "stat" }, total("revenue").toFixed(2)),
            )
          : null,
        h(
          "div",
          { class: "card" },
          h("div", { class: "muted" }, `Payout ${currencies}`),
          h("div", { class: "stat" }, total("payout").toFixed(2)),
        ),
      ),
      h(
        "div",
        { class: "grid" },
        barChart(
          "Clicks per day",
          days.map((d) => ({ x: d, y: sum(d, "clicks") })),
        ),
        barChart(
          "Conversions per day",
          days.map((d) => ({ x: d, y: sum(d, "conversions") })),
        ),
        staff()
          ? barChart(
              "Revenue per day",
              days.map((d) => ({ x: d, y: sum(d, "revenue") })),
              (v) => v.toFixed(2),
            )
          : null,
        barChart(
          "Payout per day",
          days.map((d) => ({ x: d, y: sum(d, "payout") })),
          (v) => v.toFixed(2),
        ),
      ),
    );
  } catch (err) {
    main.append(errorBox(err));
  }
}

function brands() {
  const list = table(
    [
      { key: "id", label: "ID" },
      { key: "slug", label: "Slug" },
      { key: "name", label: "Name" },
      { key: "currency", label: "Currency" },
      { key: "timezone", label: "Time zone" },
    ],
    "/v1/brands",
  );
  page(
    "Brands",
    me.role === "admin"
      ? h(
          "div",
          { class: "card" },
          h("h2", {}, "New brand"),
          form(
            [
              { name: "slug", label: "Slug", required: true, placeholder: "casino-x" },
              { name: "name", label: "Name", required: true },
              { name: "currency", label: "Currency", required: true, value: "EUR" },
              { name: "timezone", label: "Time zone", value: "UTC" },
            ],
            "Create brand",
            async (v) => {
              await api("POST", "/v1/brands", v);
              toast("brand created");
              list.reload();
            },
          ),
        )
      : null,
    list,
  );
}

async function showGuide(id, target) {
  const g = await api("GET", `/v1/advertisers/${id}/postback-guide`);
  target.replaceChildren(
    h("h2", {}, `Postback guide for advertiser #${id}`),
    h(
      "p",
      {},
      "Give this URL to the advertiser's developers; their backend replaces the {macros} with the stored click ID and the event's data.",
    ),
    copyable(g.postback_url, "Copy URL"),
    h(
      "table",
      { class: "guide" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, "Parameter"),
          h("th", {}, "Their name"),
          h("th", {}, "Required"),
          h("th", {}, "Meaning"),
          h("th", {}, "Example"),
        ),
      ),
      h(
        "tbody",
        {},
        g.parameters.map((p) =>
          h(
            "tr",
            {},
            h("td", {}, h("code", {}, p.name)),
            h("td", {}, h("code", {}, p.your_name)),
            h("td", {}, p.required ? "yes" : ""),
            h("td", {}, p.description),
            h("td", {}, h("code", {}, p.example)),
          ),
        ),
      ),
    ),
    h("h2", {}, "Events"),
    h(
      "ul",
      {},
      g.offers.map((o) =>
        h(
          "li",
          {},
          `Offer #${o.id} ${o.name}: `,
          o.events
            .map((e) => `${e.code} (window ${e.window_days} d, default ${e.default_status})`)
            .join(", "),
        ),
      ),
    ),
    h("h2", {}, "Answers"),
    h(
      "ul",
      {},
      g.responses.map((r) => h("li", {}, h("code", {}, r.status), " ", r.meaning)),
    ),
  );
}

function advertisers() {
  const guide = h("div", { class: "card", id: "guide", hidden: true });
  const secret = h("div");
  const list = table(
    [
      { key: "id", label: "ID" },
      { key: "brand_id", label: "Brand" },
      { key: "name", label: "Name" },
      { key: "status", label: "Status", render: (r) => badge(r.status) },
      { key: "token_hint", label: "Token", render: (r) => (r.token_hint ? `…${r.token_hint}` : "none") },
    ],
    "/v1/advertisers",
    {
      actions: (row, reload) => [
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            onclick: () => {
              guide.hidden = false;
              showGuide(row.id, guide).catch((e) => toast(e.message));
            },
          },
          "Postback URL",
        ),
        pauseButton("advertisers", row, reload),
      ],
    },
  );
  page(
    "Advertisers",
    writer()
      ? h(
          "div",
          { class: "card" },
          h("h2", {}, "New advertiser"),
          form(
            [
              { name: "brand_id", label: "Brand", type: "select", options: brandOptions, required: true },
              { name: "name", label: "Name", required: true },
            ],
            "Create advertiser",
            async (v) => {
              const a = await api("POST", "/v1/advertisers", v);
              secret.replaceChildren(
                h(
                  "div",
                  { class: "secret" },
                  h("strong", {}, "Postback token — shown once, store it now: "),
                  copyable(a.token),
                ),
              );
              list.reload();
              guide.hidden = false;
              await showGuide(a.id, guide);
            },
          ),
          secret,
        )
      : null,
    guide,
    list,
  );
}

function offers() {
  const list = table(
    [
      { key: "id", label: "ID" },
      { key: "name", label: "Name" },
      { key: "brand_id", label: "Brand" },
      { key: "advertiser_id", label: "Advertiser" },
      { key: "status", label: "Status", render: (r) => badge(r.status) },
      { key: "currency", label: "Currency" },
      {
        key: "events",
        label: "Events",
        render: (r) => r.events.map((e) => `${e.code} (${e.window_days} d)`).join(", "),
      },
      { key: "destination_url", label: "Destination", render: (r) => h("code", {}, r.destination_url) },
    ],
    "/v1/offers?order=desc",
    {
      actions: (row, reload) => [
        pauseButton("offers", row, reload),
        writer()
          ? h(
              "button",
              {
                type: "button",
                class: "secondary",
                onclick: () => {
                  location.hash = `#/validation?offer=${row.id}`;
                },
              },
              "Validate",
            )
          : null,
      ],
    },
  );
  page(
    "Offers",
    writer()
      ? h(
          "div",
          { class: "card" },
          h("h2", {}, "New offer"),
          form(
            [
              { name: "brand_id", label: "Brand", type: "select", options: brandOptions, required: true },
              {
                name: "advertiser_id",
                label: "Advertiser",
                type: "select",
                options: advertiserOptions,
                required: true,
              },
              { name: "name", label: "Name", required: true },
              {
                name: "destination_url",
                label: "Destination URL",
                required: true,
                placeholder: "https://advertiser.example/land?cid={click_id}",
              },
              { name: "currency", label: "Currency", required: true, value: "EUR" },
              {
                name: "events",
                label: "Events (code:window days)",
                required: true,
                value: "registration:30, ftd:30",
              },
            ],
            "Create offer",
            async (v) => {
              const events = v.events
                .split(",")
                .map((s) => s.trim())
                .filter(Boolean)
                .map((s) => {
                  const [code, days] = s.split(":").map((x) => x.trim());
                  return days ? { code, window_days: Number(days) } : { code };
                });
              const o = await api("POST", "/v1/offers", { ...v, events });
              toast(`offer ${o.id} created`);
              list.reload();
            },
          ),
        )
      : null,
    list,
  );
}

function affiliates() {
  const list = table(
    [
      { key: "id", label: "ID" },
      { key: "name", label: "Name" },
      { key: "payout_currency", label: "Payout currency" },
      { key: "status", label: "Status", render: (r) => badge(r.status) },
      { key: "is_test", label: "Test", render: (r) => (r.is_test ? "test" : "") },
    ],
    "/v1/affiliates?order=desc",
    { actions: (row, reload) => [pauseButton("affiliates", row, reload)] },
  );
  page(
    "Affiliates",
    writer()
      ? h(
          "div",
          { class: "card" },
          h("h2", {}, "New affiliate"),
          form(
            [
              { name: "name", label: "Name", required: true },
              { name: "payout_currency", label: "Payout currency", value: "EUR" },
            ],
            "Create affiliate",
            async (v) => {
              await api("POST", "/v1/affiliates", v);
              toast("affiliate created");
              list.reload();
            },
          ),
        )
      : null,
    list,
  );
}

function links() {
  const list = table(
    [
      { key: "id", label: "ID" },
      { key: "offer_id", label: "Offer" },
      { key: "affiliate_id", label: "Affiliate" },
      { key: "status", label: "Status", render: (r) => badge(r.status) },
      { key: "tracking_url", label: "Tracking URL", render: (r) => copyable(r.tracking_url) },
    ],
    "/v1/links?order=desc",
    { actions: (row, reload) => [pauseButton("links", row, reload)] },
  );
  page(
    "Tracking links",
    writer()
      ? h(
          "div",
          { class: "card" },
          h("h2", {}, "New link"),
          form(
            [
              { name: "offer_id", label: "Offer", type: "select", options: offerOptions, required: true },
              {
                name: "affiliate_id",
                label: "Affiliate",
                type: "select",
                options: affiliateOptions,
                required: true,
              },
              { name: "code", label: "Code (optional)", placeholder: "random" },
            ],
            "Create link",
            async (v) => {
              const l = await api("POST", "/v1/links", v);
              toast(`link ${l.code} created`);
              list.reload();
            },
          ),
        )
      : null,
    list,
  );
}

function payoutRules() {
  const list = table(
    [
      { key: "id", label: "ID" },
      { key: "offer_id", label: "Offer" },
      { key: "event", label: "Event" },
      { key: "affiliate_id", label: "Affiliate", render: (r) => r.affiliate_id ?? "all" },
      { key: "model", label: "Model" },
      { key: "payout", label: "Payout" },
      { key: "payout_percent", label: "Payout %" },
      { key: "revenue", label: "Revenue" },
      { key: "currency", label: "Currency" },
    ],
    "/v1/payout-rules?order=desc",
  );
  page(
    "Payout rules",
    writer()
      ? h(
          "div",
          { class: "card" },
          h("h2", {}, "New rule"),
          form(
            [
              { name: "offer_id", label: "Offer", type: "select", options: offerOptions, required: true },
              { name: "event", label: "Event", required: true, placeholder: "ftd" },
              {
                name: "affiliate_id",
                label: "Affiliate (override)",
                type: "select",
                options: affiliateOptions,
                placeholder: "all affiliates",
              },
              {
                name: "model",
                label: "Model",
                type: "select",
                options: [
                  ["cpa", "CPA (fixed)"],
                  ["revshare", "RevShare (% of amount)"],
                  ["hybrid", "Hybrid (fixed + %)"],
                ],
                required: true,
              },
              { name: "payout", label: "Payout", placeholder: "25.00" },
              { name: "payout_percent", label: "Payout %", placeholder: "30" },
              { name: "revenue", label: "Revenue", placeholder: "40.00" },
              { name: "revenue_percent", label: "Revenue %", placeholder: "" },
              { name: "hold_days", label: "Hold days", type: "number", placeholder: "0" },
              { name: "currency", label: "Currency", required: true, value: "EUR" },
            ],
            "Create rule",
            async (v) => {
              await api("POST", "/v1/payout-rules", v);
              toast("rule created");
              list.reload();
            },
          ),
        )
      : null,
    list,
  );
}

function postbackTemplates() {
  const list = table(
    [
      { key: "id", label: "ID" },
      { key: "affiliate_id", label: "Affiliate" },
      { key: "offer_id", label: "Offer", render: (r) => r.offer_id ?? "all" },
      { key: "event", label: "Event", render: (r) => r.event ?? "all" },
      { key: "method", label: "Method" },
      { key: "url_template", label: "URL template", render: (r) => h("code", {}, r.url_template) },
      { key: "status", label: "Status", render: (r) => (r.status ? badge(r.status) : "") },
    ],
    "/v1/affiliate-postbacks?order=desc",
  );
  page(
    "Affiliate postback templates",
    writer()
      ? h(
          "div",
          { class: "card" },
          h("h2", {}, "New template"),
          h(
            "p",
            { class: "muted" },
            "Macros: {click_id} {txid} {conversion_id} {event} {status} {payout} {currency} {amount} {offer_id} {affiliate_id} {brand} {sub1}…{sub10} {timestamp}",
          ),
          form(
            [
              {
                name: "affiliate_id",
                label: "Affiliate",
                type: "select",
                options: affiliateOptions,
                required: true,
              },
              {
                name: "offer_id",
                label: "Offer",
                type: "select",
                options: offerOptions,
                placeholder: "all offers",
              },
              { name: "event", label: "Event", placeholder: "all events" },
              {
                name: "method",
                label: "Method",
                type: "select",
                options: [
                  ["GET", "GET"],
                  ["POST", "POST"],
                ],
              },
              {
                name: "url_template",
                label: "URL template",
                required: true,
                placeholder: "https://affiliate.example/pb?cid={click_id}&payout={payout}",
              },
            ],
            "Create template",
            async (v) => {
              await api("POST", "/v1/affiliate-postbacks", v);
              toast("template created");
              list.reload();
            },
          ),
        )
      : null,
    list,
  );
}

function conversions() {
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const filters = {
    status: params.get("status") ?? "",
    event: params.get("event") ?? "",
    click_id: params.get("click_id") ?? "",
  };
  const list = table(
    [
      { key: "id", label: "ID" },
      { key: "occurred_at", label: "Time", render: (r) => fmtTime(r.occurred_at) },
      { key: "offer_id", label: "Offer" },
      { key: "affiliate_id", label: "Affiliate" },
      { key: "event", label: "Event" },
      { key: "status", label: "Status", render: (r) => badge(r.status) },
      { key: "amount", label: "Amount", render: (r) => (r.amount ? `${r.amount} ${r.currency}` : "") },
      { key: "txid", label: "Txid" },
      { key: "click_id", label: "Click ID", render: (r) => h("code", {}, r.click_id) },
    ],
    `/v1/conversions${qs({ order: "desc", ...filters })}`,
    {
      onRow: staff()
        ? (r) => {
            location.hash = `#/trace?conversion_id=${r.id}`;
          }
        : undefined,
    },
  );
  page(
    "Conversions",
    h(
      "div",
      { class: "card" },
      form(
        [
          {
            name: "status",
            label: "Status",
            type: "select",
            options: [
              ["pending", "pending"],
              ["approved", "approved"],
              ["rejected", "rejected"],
              ["reversed", "reversed"],
            ],
            value: filters.status,
          },
          { name: "event", label: "Event", value: filters.event },
          { name: "click_id", label: "Click ID", value: filters.click_id },
        ],
        "Filter",
        async (v) => {
          location.hash = `#/conversions${qs(v)}`;
        },
      ),
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: () => download(`/v1/conversions/export${qs(filters)}`, "conversions.csv"),
        },
        "Export CSV",
      ),
    ),
    staff() ? h("p", { class: "muted" }, "Click a conversion to trace it.") : null,
    list,
  );
}

function kv(obj, keys) {
  return h(
    "table",
    {},
    h(
      "tbody",
      {},
      keys
        .filter((k) => obj[k] !== undefined)
        .map((k) =>
          h(
            "tr",
            {},
            h("th", {}, k),
            h(
              "td",
              {},
              typeof obj[k] === "object" && obj[k] !== null
                ? h("code", {}, JSON.stringify(obj[k]))
                : fmtMaybe(obj[k]),
            ),
          ),
        ),
    ),
  );
}
const fmtMaybe = (v) =>
  typeof v === "string" && /^\d{4}-\d{2}-\d{2}T/.test(v) ? fmtTime(v) : String(v ?? "");

async function trace() {
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const q = {
    click_id: params.get("click_id") ?? "",
    txid: params.get("txid") ?? "",
    conversion_id: params.get("conversion_id") ?? "",
  };
  const out = h("div", { id: "trace" });
  page(
    "Conversion trace",
    h(
      "p",
      { class: "muted" },
      "Why was a conversion accepted, rejected or delayed? Give a click ID, a transaction ID or a conversion ID.",
    ),
    h(
      "div",
      { class: "card" },
      form(
        [
          { name: "click_id", label: "Click ID", value: q.click_id },
          { name: "txid", label: "Txid", value: q.txid },
          { name: "conversion_id", label: "Conversion ID", value: q.conversion_id },
        ],
        "Trace",
        async (v) => {
          location.hash = `#/trace${qs(v)}`;
        },
      ),
    ),
    out,
  );
  if (!q.click_id && !q.txid && !q.conversion_id) return;
  try {
    const t = await api("GET", `/v1/trace${qs(q)}`);
    add(
      out,
      h("h2", {}, "Timeline"),
      h(
        "table",
        { id: "timeline" },
        h(
          "tbody",
          {},
          t.timeline.map((e) =>
            h("tr", {}, h("td", {}, fmtTime(e.at)), h("td", {}, badge(e.kind)), h("td", {}, e.summary)),
          ),
        ),
      ),
      h("h2", {}, "Clicks"),
      t.clicks.length
        ? t.clicks.map((c) =>
            h(
              "div",
              { class: "card" },
              kv(
                {
                  click_id: c.click_id,
                  id_check: c.id_check,
                  clicked_at: c.clicked_at,
                  stored: c.stored ? "yes" : "no (credited from the click ID alone)",
                  ...(c.link ?? {}),
                  subs: c.click?.subs,
                  ip: c.click?.ip,
                  user_agent: c.click?.user_agent,
                },
                [
                  "click_id",
                  "id_check",
                  "clicked_at",
                  "stored",
                  "code",
                  "offer_id",
                  "offer_name",
                  "affiliate_id",
                  "affiliate_name",
                  "brand",
                  "subs",
                  "ip",
                  "user_agent",
                ],
              ),
            ),
          )
        : h("p", { class: "muted" }, "No click."),
      h("h2", {}, "Postback decisions"),
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Receipt", "Received", "Source", "Event", "Status", "Txid", "Requests", "Decision"].map((x) =>
              h("th", {}, x),
            ),
          ),
        ),
        h(
          "tbody",
          {},
          t.receipts.map((r) =>
            h(
              "tr",
              {},
              h("td", {}, r.id),
              h("td", {}, fmtTime(r.received_at)),
              h("td", {}, r.source),
              h("td", {}, r.event),
              h("td", {}, r.status ?? ""),
              h("td", {}, r.txid ?? ""),
              h("td", {}, `${r.requests} (${r.retries_answered_duplicate} duplicate)`),
              h("td", {}, r.decision),
            ),
          ),
        ),
      ),
      h("h2", {}, "Raw postback requests (secrets masked)"),
      h(
        "table",
        {},
        h(
          "tbody",
          {},
          t.postback_requests.map((l) =>
            h(
              "tr",
              {},
              h("td", {}, fmtTime(l.received_at)),
              h("td", {}, `${l.method} ${l.source}`),
              h("td", {}, badge(l.outcome)),
              h("td", {}, String(l.http_status)),
              h("td", {}, l.reason ?? ""),
              h("td", {}, h("code", {}, JSON.stringify(l.params))),
            ),
          ),
        ),
      ),
      h("h2", {}, "Conversions"),
      t.conversions.map((c) =>
        h(
          "div",
          { class: "card" },
          h(
            "p",
            {},
            `Conversion ${c.id}: ${c.event} `,
            badge(c.status),
            c.amount ? ` ${c.amount} ${c.currency}` : "",
            c.is_test ? " (test traffic)" : "",
          ),
          h("h3", {}, "Status history"),
          h(
            "ul",
            {},
            c.history.map((s) =>
              h(
                "li",
                {},
                `${fmtTime(s.at)} #${s.seq} → ${s.status}${s.reason ? ` (${s.reason})` : ""} (receipt ${s.receipt_id ?? "—"})`,
              ),
            ),
          ),
          h("h3", {}, "Ledger"),
          c.ledger.length
            ? h(
                "ul",
                {},
                c.ledger.map((e) =>
                  h(
                    "li",
                    {},
                    `${fmtTime(e.created_at)} ${e.type}: payout ${e.payout} ${e.currency}, revenue ${e.revenue}`,
                  ),
                ),
              )
            : h("p", { class: "muted" }, "No ledger entries."),
          h("h3", {}, "Outbound postbacks"),
          c.deliveries.length
            ? c.deliveries.map((d) =>
                h(
                  "div",
                  {},
                  h("p", {}, badge(d.status), ` ${d.method} `, h("code", {}, d.url)),
                  h(
                    "ul",
                    {},
                    d.attempts.map((a) =>
                      h(
                        "li",
                        {},
                        `attempt ${a.attempt} at ${fmtTime(a.started_at)} → ${a.status_code ?? a.error ?? "?"} (${a.latency_ms ?? "?"} ms)`,
                      ),
                    ),
                  ),
                ),
              )
            : h("p", { class: "muted" }, "None."),
        ),
      ),
    );
  } catch (err) {
    out.append(errorBox(err));
  }
}

function deliveries() {
  const detail = h("div");
  const list = table(
    [
      { key: "id", label: "ID" },
      { key: "created_at", label: "Created", render: (r) => fmtTime(r.created_at) },
      { key: "affiliate_id", label: "Affiliate" },
      { key: "conversion_id", label: "Conversion" },
      { key: "status", label: "Status", render: (r) => badge(r.status) },
      { key: "attempts", label: "Attempts" },
      { key: "url", label: "URL", render: (r) => h("code", {}, r.url) },
    ],
    "/v1/deliveries?order=desc",
    {
      actions: (row, reload) => [
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            onclick: async () => {
              const d = await api("GET", `/v1/deliveries/${row.id}`);
              detail.replaceChildren(
                h(
                  "div",
                  { class: "card" },
                  h("h2", {}, `Delivery ${d.id} attempts`),
                  h(
                    "ul",
                    {},
                    (d.attempts ?? []).map((a) =>
                      h(
                        "li",
                        {},
                        `#${a.attempt} ${fmtTime(a.started_at)} → ${a.status_code ?? a.error ?? "?"} ${a.response_excerpt ? `“${a.response_excerpt}”` : ""}`,
                      ),
                    ),
                  ),
                ),
              );
            },
          },
          "Attempts",
        ),
        writer() && row.status !== "pending"
          ? h(
              "button",
              {
                type: "button",
                onclick: async () => {
                  try {
                    await api("POST", `/v1/deliveries/${row.id}/replay`, {});
                    toast(`delivery ${row.id} queued again`);
                    reload();
                  } catch (err) {
                    toast(err.message);
                  }
                },
              },
              "Replay",
            )
          : null,
      ],
    },
  );
  page("Outbound postbacks (delivery log)", detail, list);
}

function validation() {
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const result = h("div", { id: "run" });
  const show = async (id) => {
    for (;;) {
      const run = await api("GET", `/v1/validation-runs/${id}`);
      result.replaceChildren(
        h(
          "div",
          { class: "card" },
          h("h2", {}, `Run ${run.id} for offer ${run.offer_id}: `, badge(run.status)),
          run.postback_success_rate !== null
            ? h(
                "p",
                {},
                `Postback success rate: ${(Number(run.postback_success_rate) * 100).toFixed(1)} % (${run.postbacks_ok}/${run.postbacks_sent}); launch needs ≥ 98 %.`,
              )
            : null,
          run.error ? h("p", { class: "error" }, run.error) : null,
          h(
            "table",
            { id: "checks" },
            h(
              "tbody",
              {},
              run.checks.map((c) =>
                h(
                  "tr",
                  {},
                  h("td", {}, badge(c.status)),
                  h("td", {}, c.affiliate ? `${c.title} (affiliate ${c.affiliate})` : c.title),
                  h("td", { class: "mono" }, c.detail),
                ),
              ),
            ),
          ),
        ),
      );
      if (run.status !== "running" || !location.hash.startsWith("#/validation")) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  const list = table(
    [
      { key: "id", label: "Run" },
      { key: "offer_id", label: "Offer" },
      { key: "status", label: "Status", render: (r) => badge(r.status) },
      {
        key: "postback_success_rate",
        label: "Success rate",
        render: (r) =>
          r.postback_success_rate === null ? "" : `${(Number(r.postback_success_rate) * 100).toFixed(1)} %`,
      },
      { key: "started_at", label: "Started", render: (r) => fmtTime(r.started_at) },
    ],
    "/v1/validation-runs",
    { onRow: (r) => show(r.id).catch((e) => toast(e.message)) },
  );
  page(
    "Launch validation",
    h(
      "p",
      { class: "muted" },
      "Runs the pre-launch protocol against the live stack: 3–5 test affiliates, click → registration → deposit each, duplicates, a multi-affiliate visitor, an expired click, a bad token. Test traffic is flagged and kept out of reports and payouts.",
    ),
    writer()
      ? h(
          "div",
          { class: "card" },
          form(
            [
              {
                name: "offer_id",
                label: "Offer",
                type: "select",
                options: offerOptions,
                required: true,
                value: params.get("offer") ?? undefined,
              },
              { name: "token", label: "Advertiser token (not stored)", type: "password", required: true },
              {
                name: "affiliates",
                label: "Test affiliates",
                type: "number",
                value: "3",
                min: "3",
                max: "5",
              },
            ],
            "Run validation",
            async (v) => {
              const run = await api("POST", "/v1/validation-runs", v);
              toast(`run ${run.id} started`);
              list.reload();
              await show(run.id);
              list.reload();
            },
          ),
        )
      : null,
    result,
    list,
  );
}

function reports() {
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const q = {
    from: params.get("from") ?? new Date(Date.now() - 6 * 86_400_000).toISOString().slice(0, 10),
    to: params.get("to") ?? new Date(Date.now() + 86_400_000).toISOString().slice(0, 10),
    group_by: params.get("group_by") ?? "day",
    kind: params.get("kind") ?? "performance",
  };
  const out = h("div");
  page(
    "Reports",
    h(
      "div",
      { class: "card" },
      form(
        [
          {
            name: "kind",
            label: "Report",
            type: "select",
            options: staff()
              ? [
                  ["performance", "Performance"],
                  ["postbacks", "Advertiser postbacks"],
                  ["deliveries", "Outbound postbacks"],
                  ["s2s-vs-pixel", "S2S vs pixel"],
                ]
              : [
                  ["performance", "Performance"],
                  ["deliveries", "Outbound postbacks"],
                ],
            value: q.kind,
          },
          { name: "from", label: "From", value: q.from },
          { name: "to", label: "To (exclusive)", value: q.to },
          { name: "group_by", label: "Group by", value: q.group_by, placeholder: "day,offer" },
        ],
        "Show",
        async (v) => {
          location.hash = `#/reports${qs(v)}`;
        },
      ),
    ),
    out,
  );
  const { kind, ...rest } = q;
  const path = `/v1/reports/${kind}${qs(kind === "s2s-vs-pixel" ? { from: q.from, to: q.to } : rest)}`;
  api("GET", path)
    .then((report) => {
      const rows = report.rows;
      const columns = [];
      for (const r of rows) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
      out.append(
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            onclick: () => download(`${path}&format=csv`, `${kind}.csv`),
          },
          "Download CSV",
        ),
        h(
          "table",
          { id: "report" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              columns.map((c) => h("th", {}, c)),
            ),
          ),
          h(
            "tbody",
            {},
            rows.map((r) =>
              h(
                "tr",
                {},
                columns.map((c) =>
                  h(
                    "td",
                    {},
                    typeof r[c] === "object" && r[c] !== null ? JSON.stringify(r[c]) : String(r[c] ?? ""),
                  ),
                ),
              ),
            ),
          ),
        ),
        rows.length ? null : h("p", { class: "muted" }, "No data in this period."),
      );
    })
    .catch((err) => out.append(errorBox(err)));
}

function reconciliation() {
  const out = h("div");
  const fileInput = h("input", { type: "file", name: "file", accept: ".csv,text/csv", required: true });
  const el = form(
    [
      {
        name: "advertiser_id",
        label: "Advertiser",
        type: "select",
        options: advertiserOptions,
        required: true,
      },
      { name: "txid_column", label: "Txid column", value: "txid" },
      { name: "event_column", label: "Event column" },
      { name: "amount_column", label: "Amount column" },
      { name: "status_column", label: "Status column" },
      { name: "from", label: "From (our side)" },
      { name: "to", label: "To" },
    ],
    "Reconcile",
    async (v) => {
      const fd = new FormData();
      for (const [k, val] of Object.entries(v)) fd.set(k, val);
      if (!fileInput.files[0]) throw new Error("choose a CSV file");
      fd.set("file", fileInput.files[0]);
      const r = await api("POST", "/v1/reports/reconciliation", fd);
      const s = r.summary;
      out.replaceChildren(
        h(
          "div",
          { class: "grid" },
          Object.entries(s).map(([k, n]) =>
            h(
              "div",
              { class: "card" },
              h("div", { class: "muted" }, k.replace(/_/g, " ")),
              h("div", { class: "stat" }, n),
            ),
          ),
        ),
        h("h2", {}, "Mismatches"),
        h(
          "table",
          {},
          h(
            "tbody",
            {},
            r.mismatches.map((m) =>
              h(
                "tr",
                {},
                h("td", {}, m.txid),
                h("td", {}, m.event),
                h("td", {}, m.field),
                h("td", {}, `theirs ${m.theirs ?? "—"}`),
                h("td", {}, `ours ${m.ours ?? "—"}`),
              ),
            ),
          ),
        ),
        h("h2", {}, "Missing on our side"),
        h(
          "ul",
          {},
          r.missing_ours.map((t) =>
            h("li", {}, `${t.txid} ${t.event ?? ""} ${t.amount ?? ""} (line ${t.line})`),
          ),
        ),
        h("h2", {}, "Missing on theirs"),
        h(
          "ul",
          {},
          r.missing_theirs.map((o) =>
            h("li", {}, `${o.txid} ${o.event} ${o.amount ?? ""} (conversion ${o.id})`),
          ),
        ),
      );
    },
  );
  el.insertBefore(h("label", {}, "CSV file", fileInput), el.querySelector("button[type=submit]"));
  page(
    "Reconciliation",
    h(
      "p",
      { class: "muted" },
      "Upload the advertiser's or finance's CSV of conversions: matched, missing on either side, amount and status mismatches.",
    ),
    h("div", { class: "card" }, el),
    out,
  );
}

function auditLog() {
  page(
    "Audit log",
    table(
      [
        { key: "at", label: "When", render: (r) => fmtTime(r.at) },
        { key: "actor", label: "Who" },
        { key: "action", label: "Action" },
        { key: "resource", label: "What", render: (r) => `${r.resource} ${r.resource_id ?? ""}` },
        {
          key: "before",
          label: "Before",
          render: (r) => (r.before ? h("code", {}, JSON.stringify(r.before)) : ""),
        },
        {
          key: "after",
          label: "After",
          render: (r) => (r.after ? h("code", {}, JSON.stringify(r.after)) : ""),
        },
      ],
      "/v1/audit-log",
    ),
  );
}

function apiKeys() {
  const secret = h("div");
  const list = table(
    [
      { key: "id", label: "ID" },
      { key: "name", label: "Name" },
      { key: "role", label: "Role" },
      { key: "affiliate_id", label: "Affiliate" },
      { key: "key_prefix", label: "Prefix" },
      { key: "last_used_at", label: "Last used", render: (r) => fmtTime(r.last_used_at) },
      { key: "revoked_at", label: "Revoked", render: (r) => fmtTime(r.revoked_at) },
    ],
    "/v1/api-keys",
    {
      actions: (row, reload) => [
        row.revoked_at
          ? null
          : h(
              "button",
              {
                type: "button",
                class: "danger",
                onclick: async () => {
                  await api("DELETE", `/v1/api-keys/${row.id}`);
                  toast("key revoked");
                  reload();
                },
              },
              "Revoke",
            ),
      ],
    },
  );
  page(
    "API keys",
    h(
      "div",
      { class: "card" },
      form(
        [
          { name: "name", label: "Name", required: true },
          {
            name: "role",
            label: "Role",
            type: "select",
            required: true,
            options: [
              ["admin", "admin"],
              ["manager", "manager"],
              ["analyst", "analyst (read-only)"],
              ["affiliate", "affiliate"],
            ],
          },
          {
            name: "affiliate_id",
            label: "Affiliate (for affiliate keys)",
            type: "select",
            options: affiliateOptions,
          },
        ],
        "Create key",
        async (v) => {
          const k = await api("POST", "/v1/api-keys", v);
          secret.replaceChildren(
            h("div", { class: "secret" }, h("strong", {}, "API key — shown once: "), copyable(k.key)),
          );
          list.reload();
        },
      ),
      secret,
    ),
    list,
  );
}

function payouts() {
  page(
    "Payouts (ledger)",
    table(
      [
        { key: "id", label: "Entry" },
        { key: "created_at", label: "When", render: (r) => fmtTime(r.created_at) },
        { key: "conversion_id", label: "Conversion" },
        { key: "offer_id", label: "Offer" },
        { key: "type", label: "Type" },
        { key: "payout", label: "Payout" },
        { key: "currency", label: "Currency" },
      ],
      "/v1/ledger-entries?order=desc",
    ),
  );
}

// ---------------------------------------------------------------------------------- shell

const ROUTES = {
  dashboard: { title: "Dashboard", render: dashboard },
  brands: { title: "Brands", render: brands, staff: true },
  advertisers: { title: "Advertisers", render: advertisers, staff: true },
  offers: { title: "Offers", render: offers },
  affiliates: { title: "Affiliates", render: affiliates, staff: true },
  links: { title: "Links", render: links },
  "payout-rules": { title: "Payout rules", render: payoutRules, staff: true },
  postbacks: { title: "Postback templates", render: postbackTemplates },
  conversions: { title: "Conversions", render: conversions },
  trace: { title: "Trace", render: trace, staff: true },
  payouts: { title: "Payouts", render: payouts },
  deliveries: { title: "Delivery log", render: deliveries },
  validation: { title: "Validation", render: validation, staff: true },
  reports: { title: "Reports", render: reports },
  reconciliation: { title: "Reconciliation", render: reconciliation, staff: true },
  audit: { title: "Audit log", render: auditLog, staff: true },
  "api-keys": { title: "API keys", render: apiKeys, admin: true },
};

function allowed(route) {
  if (route.admin) return me.role === "admin";
  if (route.staff) return me.role !== "affiliate";
  return true;
}

function signOut() {
  sessionStorage.removeItem(KEY);
  me = null;
  route();
}

function signIn() {
  nav.replaceChildren();
  who.replaceChildren();
  const input = h("input", {
    name: "key",
    type: "password",
    placeholder: "rt_…",
    required: true,
    autocomplete: "off",
  });
  const message = h("p", { class: "error", role: "alert" });
  main.replaceChildren(
    h(
      "div",
      { class: "card signin" },
      h("h1", {}, "Sign in"),
      h(
        "p",
        { class: "muted" },
        "Use an API key (admin, manager, analyst or affiliate). It stays in this browser tab only.",
      ),
      h(
        "form",
        {
          id: "signin",
          onsubmit: async (e) => {
            e.preventDefault();
            sessionStorage.setItem(KEY, input.value.trim());
            try {
              me = await api("GET", "/v1/me");
              location.hash = "#/dashboard";
              route();
            } catch (err) {
              sessionStorage.removeItem(KEY);
              message.textContent = err.message;
            }
          },
        },
        h("label", {}, "API key", input),
        " ",
        h("button", { type: "submit" }, "Sign in"),
      ),
      message,
    ),
  );
}

async function route() {
  if (!sessionStorage.getItem(KEY)) return signIn();
  if (!me) {
    try {
      me = await api("GET", "/v1/me");
    } catch {
      sessionStorage.removeItem(KEY);
      return signIn();
    }
  }
  const name = location.hash.replace(/^#\/?/, "").split("?")[0] || "dashboard";
  const current = ROUTES[name] && allowed(ROUTES[name]) ? name : "dashboard";
  nav.replaceChildren(
    ...Object.entries(ROUTES)
      .filter(([, r]) => allowed(r))
      .map(([key, r]) => h("a", { href: `#/${key}`, class: key === current ? "active" : "" }, r.title)),
  );
  who.replaceChildren(
    `${me.name} (${me.role}${me.affiliate_id ? ` · affiliate ${me.affiliate_id}` : ""})`,
    h("button", { type: "button", class: "secondary", onclick: signOut }, "Sign out"),
  );
  try {
    await ROUTES[current].render();
  } catch (err) {
    main.append(errorBox(err));
  }
}

window.addEventListener("hashchange", route);
route();
