import { useState } from "preact/hooks";
import { ApiError } from "./api.ts";
import { accountsAvailable, signInWithKey, signInWithPassword } from "./session.ts";
import { useStore } from "./store.ts";

/**
 * Sign in with an email and password (an account; a second factor when the account has one), or
 * with an API key — keys are for machines, but they still open the console.
 */
export function SignIn() {
  const accounts = useStore(accountsAvailable);
  const [mode, setMode] = useState<"account" | "key">("account");
  const [error, setError] = useState<string | null>(null);
  const [needTotp, setNeedTotp] = useState(false);
  const [busy, setBusy] = useState(false);
  const [form, setForm] = useState({ email: "", password: "", totp: "", key: "" });
  const noAccounts = accounts === false;
  const useKey = mode === "key" || noAccounts;

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (useKey) await signInWithKey(form.key.trim());
      else
        await signInWithPassword(form.email.trim(), form.password, needTotp ? form.totp.trim() : undefined);
      if (!location.hash || location.hash === "#/") location.hash = "#/dashboard";
    } catch (err) {
      if (err instanceof ApiError && err.code === "totp_required") {
        setNeedTotp(true);
        setError("Enter the 6-digit code from your authenticator app.");
      } else if (err instanceof ApiError && err.code === "invalid_credentials")
        setError("Wrong email, password or code.");
      else setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }
  const field = (name: keyof typeof form) => ({
    value: form[name],
    onInput: (e: Event) => setForm({ ...form, [name]: (e.currentTarget as HTMLInputElement).value }),
  });
  return (
    <main id="main" class="signin-page">
      <div class="card signin">
        <h1>Sign in to Roundtrip</h1>
        <div class="tabs" role="tablist" aria-label="How to sign in">
          <button
            type="button"
            role="tab"
            aria-selected={!useKey}
            disabled={noAccounts}
            onClick={() => setMode("account")}
          >
            Email
          </button>
          <button type="button" role="tab" aria-selected={useKey} onClick={() => setMode("key")}>
            Use an API key
          </button>
        </div>
        <form id="signin" onSubmit={submit}>
          {useKey ? (
            <>
              <p class="muted">
                An API key (admin, manager, analyst or affiliate). It stays in this browser tab only.
              </p>
              <label for="signin-key">API key</label>
              <input
                id="signin-key"
                name="key"
                type="password"
                placeholder="rt_…"
                required
                autoComplete="off"
                {...field("key")}
              />
            </>
          ) : (
            <fieldset disabled={noAccounts}>
              <legend class="sr-only">Account</legend>
              {noAccounts ? (
                <p class="muted">Accounts are not enabled on this server yet: use an API key.</p>
              ) : null}
              <label for="signin-email">Email</label>
              <input
                id="signin-email"
                name="email"
                type="email"
                required
                autoComplete="username"
                {...field("email")}
              />
              <label for="signin-password">Password</label>
              <input
                id="signin-password"
                name="password"
                type="password"
                required
                autoComplete="current-password"
                {...field("password")}
              />
              {needTotp ? (
                <>
                  <label for="signin-totp">Authentication code</label>
                  <input
                    id="signin-totp"
                    name="totp"
                    inputMode="numeric"
                    pattern="[0-9]{6}"
                    required
                    autoComplete="one-time-code"
                    {...field("totp")}
                  />
                </>
              ) : null}
            </fieldset>
          )}
          <p class="error" role="alert">
            {error ?? ""}
          </p>
          <button type="submit" disabled={busy || (!useKey && noAccounts)}>
            Sign in
          </button>
        </form>
      </div>
    </main>
  );
}
