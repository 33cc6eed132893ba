import { useEffect, useState } from "preact/hooks";
import { ErrorBoundary } from "./components/boundary.tsx";
import { Toast } from "./components/ui.tsx";
import { globalFilters, lastDays } from "./filters.ts";
import { loadNames, optionsOf, useNames } from "./names.ts";
import { PAGES } from "./pages/index.ts";
import { SECTIONS } from "./pages/registry.ts";
import { href, useRoute } from "./route.ts";
import { type Me, signOut } from "./session.ts";
import { useStore } from "./store.ts";

function GlobalFilterBar(p: { me: Me }) {
  const f = useStore(globalFilters);
  const all = useNames();
  const set = (patch: Partial<typeof f>) => globalFilters.set({ ...f, ...patch });
  return (
    <form class="global-filters" aria-label="Date range and brand" onSubmit={(e) => e.preventDefault()}>
      <label>
        <span>From</span>
        <input
          type="date"
          value={f.from}
          max={f.to}
          onChange={(e) => e.currentTarget.value && set({ from: e.currentTarget.value })}
        />
      </label>
      <label>
        <span>To</span>
        <input
          type="date"
          value={f.to}
          min={f.from}
          onChange={(e) => e.currentTarget.value && set({ to: e.currentTarget.value })}
        />
      </label>
      <label>
        <span>Range</span>
        <select
          value=""
          onChange={(e) => {
            const days = Number(e.currentTarget.value);
            if (days) set(lastDays(days));
          }}
        >
          <option value="">Preset…</option>
          <option value="1">Today</option>
          <option value="7">Last 7 days</option>
          <option value="14">Last 14 days</option>
          <option value="30">Last 30 days</option>
          <option value="90">Last 90 days</option>
        </select>
      </label>
      {p.me.role !== "affiliate" ? (
        <label>
          <span>Brand</span>
          <select value={f.brandId} onChange={(e) => set({ brandId: e.currentTarget.value })}>
            <option value="">All brands</option>
            {optionsOf(all, "brand").map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </label>
      ) : null}
    </form>
  );
}

/** The signed-in console: header, menu, global filters, and the current page. */
export function Shell(p: { me: Me }) {
  const route = useRoute();
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => {
    void loadNames(p.me);
  }, [p.me]);
  const visible = PAGES.filter((page) => page.roles.includes(p.me.role));
  const page = visible.find((x) => x.path === route.path) ?? visible.find((x) => x.path === "dashboard");
  useEffect(() => {
    document.title = page ? `${page.title} · Roundtrip` : "Roundtrip";
    setMenuOpen(false);
  }, [page, route.path]);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header id="top">
        <button
          type="button"
          class="menu-toggle secondary"
          aria-expanded={menuOpen}
          aria-controls="nav"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          Menu
        </button>
        <a class="brand" href="#/dashboard">
          Roundtrip
        </a>
        <GlobalFilterBar me={p.me} />
        <span id="who">
          <span>
            {p.me.name} <span class="muted">({p.me.role})</span>
          </span>
          <button type="button" class="secondary" onClick={() => void signOut()}>
            Sign out
          </button>
        </span>
      </header>
      <div class="layout">
        <nav id="nav" aria-label="Sections" class={menuOpen ? "open" : ""}>
          {SECTIONS.map((section) => {
            const items = visible.filter((x) => x.section === section && x.nav !== false);
            if (items.length === 0) return null;
            return (
              <div key={section} class="nav-section">
                <h2>{section}</h2>
                <ul>
                  {items.map((x) => (
                    <li key={x.path}>
                      <a href={href(x.path)} aria-current={x === page ? "page" : undefined}>
                        {x.title}
                      </a>
                    </li>
                  ))}
                </ul>
              </div>
            );
          })}
        </nav>
        <main id="main" tabIndex={-1}>
          {page ? (
            <ErrorBoundary key={page.path}>
              <page.component route={route} me={p.me} />
            </ErrorBoundary>
          ) : null}
        </main>
      </div>
      <Toast />
    </>
  );
}
