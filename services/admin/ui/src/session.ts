import { ApiError, api, apiKey, setCsrfToken } from "./api.ts";
import { createStore } from "./store.ts";

export type Role = "admin" | "manager" | "analyst" | "affiliate";
/** Who is signed in, from an account session or an API key. */
export type Me = {
  name: string;
  role: Role;
  affiliateId: string | null;
  via: "account" | "key";
  email?: string;
};

/** undefined = not known yet (first check running); null = signed out. */
export const session = createStore<Me | null | undefined>(undefined);

type AccountUser = { id: string; email: string; name: string; role: Role; affiliateId: string | null };
type KeyMe = { name: string; role: Role; affiliate_id: string | null };

/** Whether this admin has accounts (POST /v1/auth/sign-in); until it does the email form is off. */
export const accountsAvailable = createStore<boolean | undefined>(undefined);

function fromAccount(user: AccountUser, csrf: string): Me {
  setCsrfToken(csrf);
  return {
    name: user.name || user.email,
    email: user.email,
    role: user.role,
    affiliateId: user.affiliateId,
    via: "account",
  };
}

/** Finds out who is signed in: the tab's API key first, then the session cookie. */
export async function restore(): Promise<void> {
  if (apiKey.get()) {
    try {
      const me = await api<KeyMe>("GET", "/v1/me");
      session.set({ name: me.name, role: me.role, affiliateId: me.affiliate_id, via: "key" });
      return;
    } catch {
      apiKey.clear();
    }
  }
  try {
    const res = await api<{ user: AccountUser; csrfToken: string }>("GET", "/v1/auth/me");
    accountsAvailable.set(true);
    session.set(fromAccount(res.user, res.csrfToken));
  } catch (err) {
    accountsAvailable.set(!(err instanceof ApiError && err.status === 404));
    session.set(null);
  }
}

export async function signInWithKey(key: string): Promise<void> {
  apiKey.set(key);
  try {
    const me = await api<KeyMe>("GET", "/v1/me");
    session.set({ name: me.name, role: me.role, affiliateId: me.affiliate_id, via: "key" });
  } catch (err) {
    apiKey.clear();
    throw err;
  }
}

export async function signInWithPassword(email: string, password: string, totp?: string): Promise<void> {
  const body: Record<string, string> = { email, password };
  if (totp) body.totp = totp;
  const res = await api<{ user: AccountUser; csrfToken: string }>("POST", "/v1/auth/sign-in", body);
  session.set(fromAccount(res.user, res.csrfToken));
}

/** Signed in by an answer that carries the user and the CSRF token (sign-in, an accepted invitation). */
export function signedInAs(res: { user: AccountUser; csrfToken: string }): void {
  accountsAvailable.set(true);
  session.set(fromAccount(res.user, res.csrfToken));
}

export async function signOut(): Promise<void> {
  const me = session.get();
  if (me?.via === "account") await api("POST", "/v1/auth/sign-out").catch(() => undefined);
  apiKey.clear();
  setCsrfToken(null);
  session.set(null);
}

export const isStaff = (me: Me) => me.role !== "affiliate";
export const canWrite = (me: Me) => me.role === "admin" || me.role === "manager";
