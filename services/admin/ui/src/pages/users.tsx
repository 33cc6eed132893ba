import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { bodyOf, type Field, Form } from "../components/form.tsx";
import { DataTable } from "../components/table.tsx";
import { Badge, Card, Copy, Name, Page, Time, toast } from "../components/ui.tsx";
import { optionsOf, useNames } from "../names.ts";
import { opts } from "./options.ts";

const ROLES = opts("admin", "manager", "analyst", "affiliate");

/** A row action that calls the API, says what happened and reloads the list. */
function Action(p: { label: string; run: () => Promise<unknown>; done: string; reload: () => void }) {
  return (
    <button
      type="button"
      class="secondary"
      onClick={async () => {
        try {
          await p.run();
          toast(p.done);
          p.reload();
        } catch (err) {
          toast((err as Error).message);
        }
      }}
    >
      {p.label}
    </button>
  );
}

/** People who sign in (admin): invite by email and role, disable, see invitations (POST /v1/user-invitations). */
export function UsersPage() {
  const all = useNames();
  const [version, setVersion] = useState(0);
  const [invited, setInvited] = useState<{ email: string; link: string } | null>(null);
  const fields: Field[] = [
    { name: "email", label: "Email", required: true },
    { name: "name", label: "Name" },
    { name: "role", label: "Role", type: "select", required: true, options: ROLES },
    {
      name: "affiliate_id",
      label: "Affiliate",
      type: "select",
      options: optionsOf(all, "affiliate"),
      when: (v) => v.role === "affiliate",
    },
  ];
  return (
    <Page
      title="Users"
      intro="People sign in with an email and a password (and a second factor if they turn it on). Invite them with a role; the link works once and expires."
    >
      {invited ? (
        <Card class="notice" title={`Invitation for ${invited.email} (shown once)`}>
          <p>Send this link to the invitee; they set their password there.</p>
          <Copy text={invited.link} />
          <button type="button" class="secondary" onClick={() => setInvited(null)}>
            Done
          </button>
        </Card>
      ) : null}
      <details class="card">
        <summary>Invite someone</summary>
        <Form
          id="invite"
          fields={fields}
          initial={{ role: "analyst" }}
          submit="Invite"
          onSubmit={async (v) => {
            const r = await api<{ email: string; accept_path: string }>(
              "POST",
              "/v1/user-invitations",
              bodyOf(fields, v),
            );
            setInvited({ email: r.email, link: `${location.origin}${r.accept_path}` });
            setVersion((x) => x + 1);
          }}
        />
      </details>
      <DataTable
        path="/v1/users"
        caption="Users"
        csvName="users"
        version={version}
        filters={[{ name: "role", label: "Role", options: ROLES }]}
        columns={[
          { key: "email" },
          { key: "name" },
          { key: "role" },
          {
            key: "affiliate_id",
            label: "Affiliate",
            render: (r) =>
              r.affiliate_id ? <Name kind="affiliate" id={r.affiliate_id as string} link={false} /> : "",
          },
          {
            key: "totp_enabled_at",
            label: "Second factor",
            render: (r) => (r.totp_enabled_at ? "on" : "off"),
          },
          {
            key: "last_sign_in_at",
            label: "Last sign-in",
            render: (r) => (r.last_sign_in_at ? <Time at={r.last_sign_in_at as string} /> : "never"),
          },
          {
            key: "disabled_at",
            label: "Status",
            render: (r) => <Badge value={r.disabled_at ? "disabled" : "active"} />,
          },
        ]}
        actions={(r, reload) => (
          <Action
            label={r.disabled_at ? "Enable" : "Disable"}
            done={r.disabled_at ? "user enabled" : "user disabled and signed out"}
            run={() => api("PATCH", `/v1/users/${r.id}`, { disabled: !r.disabled_at })}
            reload={reload}
          />
        )}
      />
      <DataTable
        path="/v1/user-invitations"
        caption="Invitations"
        csvName="invitations"
        version={version}
        filters={[
          { name: "state", label: "State", options: opts("pending", "accepted", "revoked", "expired") },
        ]}
        columns={[
          { key: "email" },
          { key: "role" },
          { key: "invited_by", label: "Invited by" },
          { key: "created_at", label: "Sent", render: (r) => <Time at={r.created_at as string} /> },
          { key: "expires_at", label: "Expires", render: (r) => <Time at={r.expires_at as string} /> },
          {
            key: "accepted_at",
            label: "Accepted",
            render: (r) =>
              r.accepted_at ? <Time at={r.accepted_at as string} /> : r.revoked_at ? "revoked" : "not yet",
          },
        ]}
        actions={(r, reload) =>
          r.accepted_at || r.revoked_at ? null : (
            <Action
              label="Revoke"
              done="invitation revoked"
              run={() => api("DELETE", `/v1/user-invitations/${r.id}`)}
              reload={reload}
            />
          )
        }
      />
    </Page>
  );
}
