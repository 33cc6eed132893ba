import { useState } from "preact/hooks";
import { encode } from "uqr";
import { api } from "../api.ts";
import { type Field, Form } from "../components/form.tsx";
import { Badge, Card, Copy, ErrorBox, Facts, Loading, Page, toast } from "../components/ui.tsx";
import { useApi } from "../use-api.ts";
import type { PageProps } from "./registry.ts";

type AccountUser = { id: string; email: string; name: string; role: string; totpEnabled: boolean };
type Setup = { secret: string; otpauth_uri: string };

/**
 * An otpauth:// URI as a QR code for an authenticator app to scan: uqr computes the modules,
 * drawn as one SVG path (nothing loaded from elsewhere: the console's CSP is `default-src 'self'`).
 */
function QrCode(p: { text: string; label: string }) {
  const qr = encode(p.text, { border: 2 });
  let d = "";
  qr.data.forEach((row, y) => {
    row.forEach((dark, x) => {
      if (dark) d += `M${x} ${y}h1v1h-1z`;
    });
  });
  return (
    <svg
      class="qr"
      role="img"
      aria-label={p.label}
      viewBox={`0 0 ${qr.size} ${qr.size}`}
      width={qr.size * 5}
      height={qr.size * 5}
      shape-rendering="crispEdges"
    >
      <rect width={qr.size} height={qr.size} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}

const CODE: Field = {
  name: "code",
  label: "Code from the app",
  required: true,
  pattern: "^\\d{6}$",
  placeholder: "123456",
  help: "six digits",
};

function SecondFactor(p: { user: AccountUser; changed: () => void }) {
  const [setup, setSetup] = useState<Setup | null>(null);
  if (p.user.totpEnabled)
    return (
      <Card title="Second factor">
        <p>
          <Badge value="active" /> Sign-in asks for a code from your authenticator app.
        </p>
        <details>
          <summary>Turn the second factor off</summary>
          <Form
            id="totp-disable"
            fields={[{ name: "password", label: "Password", type: "password", required: true }, CODE]}
            submit="Turn off"
            onSubmit={async (v) => {
              await api("POST", "/v1/auth/totp/disable", { password: v.password, code: v.code });
              toast("second factor turned off");
              p.changed();
            }}
          />
        </details>
      </Card>
    );
  return (
    <Card title="Second factor">
      <p class="muted">
        Off: a password alone signs you in. Turn on a one-time code (TOTP) from any authenticator app.
      </p>
      {setup ? (
        <div id="totp-setup">
          <p>Scan this with the app, or type the key in, then enter the code it shows.</p>
          <QrCode text={setup.otpauth_uri} label="QR code of the authenticator key" />
          <Facts items={[["Key", <Copy key="k" text={setup.secret} label="authenticator key" />]]} />
          <Form
            id="totp-enable"
            fields={[CODE]}
            submit="Turn on"
            onSubmit={async (v) => {
              await api("POST", "/v1/auth/totp/enable", { code: v.code });
              setSetup(null);
              toast("second factor on");
              p.changed();
            }}
          />
        </div>
      ) : (
        <button
          type="button"
          onClick={async () => {
            try {
              setSetup(await api<Setup>("POST", "/v1/auth/totp/setup"));
            } catch (err) {
              toast((err as Error).message);
            }
          }}
        >
          Set up a second factor
        </button>
      )}
    </Card>
  );
}

const PASSWORD: Field[] = [
  { name: "current_password", label: "Current password", type: "password", required: true },
  {
    name: "new_password",
    label: "New password",
    type: "password",
    required: true,
    help: "at least 12 characters",
  },
];

/**
 * Account security for whoever is signed in with an account: the password (POST
 * /v1/auth/password ends the other sessions) and the TOTP second factor (set up, confirm a code,
 * turn off). Signed in with an API key there is no account here: keys are revoked, not changed.
 */
export function AccountPage({ me }: PageProps) {
  const [version, setVersion] = useState(0);
  const account = useApi<{ user: AccountUser }>(me.via === "account" ? "/v1/auth/me" : null, version);
  if (me.via !== "account")
    return (
      <Page title="Account security">
        <Card>
          <p>
            You are signed in with an API key ({me.name}). A key has no password or second factor: an admin
            revokes it and issues a new one. People sign in with an email and a password.
          </p>
        </Card>
      </Page>
    );
  const user = account.data?.user;
  return (
    <Page title="Account security" intro="Your password and your second factor; each change is audited.">
      <ErrorBox error={account.error} />
      {!user ? (
        account.error ? null : (
          <Loading />
        )
      ) : (
        <>
          <Card title="You">
            <Facts
              items={[
                ["Email", user.email],
                ["Name", user.name],
                ["Role", user.role],
              ]}
            />
          </Card>
          <SecondFactor user={user} changed={() => setVersion((x) => x + 1)} />
          <Card title="Password">
            <Form
              id="password-change"
              fields={PASSWORD}
              submit="Change password"
              onSubmit={async (v) => {
                if (String(v.new_password ?? "").length < 12)
                  throw new Error("The new password needs at least 12 characters.");
                await api("POST", "/v1/auth/password", {
                  current_password: v.current_password,
                  new_password: v.new_password,
                });
                toast("password changed; your other sessions are signed out");
              }}
            />
          </Card>
        </>
      )}
    </Page>
  );
}
