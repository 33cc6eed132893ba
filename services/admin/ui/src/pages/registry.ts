import type { ComponentChildren } from "preact";
import type { Route } from "../route.ts";
import type { Me, Role } from "../session.ts";

export type PageProps = { route: Route; me: Me };
/**
 * One console page: where it lives (`#/<path>`), its title in the menu and on the tab, the menu
 * section it sits in, the roles that see it, and the component that draws it. A page is a
 * function of (route, signed-in user): it loads its own data with `useApi` and never touches
 * the DOM outside its own tree, so it cannot draw twice.
 */
export type PageDef = {
  path: string;
  title: string;
  section: Section;
  roles: readonly Role[];
  component: (props: PageProps) => ComponentChildren;
  /** false: reachable by link only (a detail page such as the trace of one conversion). */
  nav?: boolean;
};
export const SECTIONS = [
  "Overview",
  "Setup",
  "Traffic",
  "Money",
  "Delivery",
  "Tools",
  "Admin",
  "Account",
] as const;
export type Section = (typeof SECTIONS)[number];

export const ALL: readonly Role[] = ["admin", "manager", "analyst", "affiliate"];
export const STAFF: readonly Role[] = ["admin", "manager", "analyst"];
export const WRITERS: readonly Role[] = ["admin", "manager"];
export const ADMIN: readonly Role[] = ["admin"];
