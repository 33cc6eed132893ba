import { useState } from "preact/hooks";
import { api } from "./api.ts";
import { Form } from "./components/form.tsx";
import { Card, ErrorBox, Loading } from "./components/ui.tsx";
import { go } from "./route.ts";
import { signedInAs } from "./session.ts";
import { useApiPost } from "./use-api.ts";

type Invitation = { email: string; role: string; name: string };

/**
 * Where an invitation link lands (`#/accept-invitation?token=…`, the token in the fragment so no
 * server or log sees it): says who it is for, takes a password, and signs the new user in.
 */
export function AcceptInvitation(p: { token: string }) {
  const invitation = useApiPost<Invitation>("/v1/auth/invitations/inspect", { token: p.token });
  const [done, setDone] = useState(false);
  if (invitation.loading) return <Loading />;
  return (
    <main id="main" class="signin-page">
      <Card title="Accept your invitation">
        <ErrorBox error={invitation.error} />
        {invitation.data && !done ? (
          <>
            <p>
              For <strong>{invitation.data.email}</strong> as {invitation.data.role}. Choose a password (at
              least 12 characters).
            </p>
            <Form
              id="accept-invitation"
              fields={[
                { name: "name", label: "Your name" },
                { name: "password", label: "Password", type: "password", required: true },
              ]}
              initial={{ name: invitation.data.name }}
              submit="Set password and sign in"
              onSubmit={async (v) => {
                const res = await api<Parameters<typeof signedInAs>[0]>(
                  "POST",
                  "/v1/auth/invitations/accept",
                  {
                    token: p.token,
                    password: v.password,
                    ...(v.name ? { name: v.name } : {}),
                  },
                );
                setDone(true);
                go("dashboard");
                signedInAs(res);
              }}
            />
          </>
        ) : null}
      </Card>
    </main>
  );
}
