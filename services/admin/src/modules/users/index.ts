import type { Sql } from "@roundtrip/db";
import { Elysia, t } from "elysia";
import { actor, assertAdmin, authentication } from "../../auth.ts";
import { view } from "../../visibility.ts";
import { getRow, IdParams, listRows } from "../common.ts";
import {
  InvitationCreate,
  InvitationQuery,
  InvitationRow,
  Paged,
  type PagedRows,
  UserPatch,
  UserQuery,
  UserRow,
} from "./model.ts";
import { invite, revokeInvitation, signOutEverywhere, updateUser } from "./service.ts";

/**
 * People who sign in to the console, and invitations to become one (admins only). Creating a user
 * is inviting an email with a role: the invitee sets the password (POST /v1/auth/invitations/accept).
 */
export function users(sql: Sql, settings: { invitationSeconds: number }) {
  const people = new Elysia({ prefix: "/v1/users", tags: ["users"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) =>
        listRows(
          sql,
          "users",
          { role: query.role, affiliate_id: query.affiliate_id },
          query,
          view("users", principal),
        ) as Promise<PagedRows<UserRow>>,
      {
        query: UserQuery,
        response: { 200: Paged(UserRow) },
        detail: { summary: "List users (admin)", description: "Never the password hash or the TOTP secret." },
      },
    )
    .get(
      "/:id",
      ({ params, principal }) =>
        getRow(sql, "users", params.id, view("users", principal)) as Promise<UserRow>,
      {
        params: IdParams,
        response: { 200: UserRow },
        detail: {
          summary: "Get a user (admin)",
          description:
            "One user: name, email, role, status, second factor on or off, last sign-in; never the password hash or the TOTP secret.",
        },
      },
    )
    .patch(
      "/:id",
      ({ params, body, principal }) => {
        assertAdmin(principal);
        return updateUser(sql, params.id, body, actor(principal));
      },
      {
        params: IdParams,
        body: UserPatch,
        response: { 200: UserRow },
        detail: {
          summary: "Change a user's name or role, or disable / enable them (admin)",
          description:
            "Takes effect on the user's next request. Disabling ends every session. 409 `last_admin` when it would leave no active admin.",
        },
      },
    )
    .delete(
      "/:id/sessions",
      ({ params, principal }) => {
        assertAdmin(principal);
        return signOutEverywhere(sql, params.id, actor(principal));
      },
      {
        params: IdParams,
        response: { 200: t.Object({ sessions_ended: t.Integer() }) },
        detail: {
          summary: "Sign a user out everywhere (admin)",
          description: "Ends every session of the user at once (audited).",
        },
      },
    );
  const invitations = new Elysia({ prefix: "/v1/user-invitations", tags: ["users"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) => {
        const state = {
          pending: sql`accepted_at is null and revoked_at is null and expires_at > now()`,
          accepted: sql`accepted_at is not null`,
          revoked: sql`revoked_at is not null`,
          expired: sql`accepted_at is null and revoked_at is null and expires_at <= now()`,
        };
        return listRows(
          sql,
          "user_invitations",
          {},
          { order: "desc", ...query },
          view("user_invitations", principal),
          query.state ? state[query.state] : undefined,
        ) as Promise<PagedRows<InvitationRow>>;
      },
      {
        query: InvitationQuery,
        response: { 200: Paged(InvitationRow) },
        detail: {
          summary: "List invitations, newest first (admin)",
          description:
            "Invitations, newest first, with their role, expiry and whether they were used; never the invitation token.",
        },
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertAdmin(principal);
        set.status = 201;
        return invite(sql, body, settings, actor(principal));
      },
      {
        body: InvitationCreate,
        response: {
          201: t.Composite([
            InvitationRow,
            t.Object({
              token: t.String({ description: "shown once: the invitee needs it to set a password" }),
              accept_path: t.String({
                description: "the console page that accepts it, on the console's origin",
              }),
            }),
          ]),
        },
        detail: {
          summary: "Invite a person by email with a role (admin)",
          description:
            "A single-use token that expires (INVITATION_TTL_HOURS). Send the invitee the console URL + accept_path; a new invitation for the same email replaces the open one. 409 `user_exists`.",
        },
      },
    )
    .delete(
      "/:id",
      ({ params, principal }) => {
        assertAdmin(principal);
        return revokeInvitation(sql, params.id, actor(principal));
      },
      {
        params: IdParams,
        response: { 200: InvitationRow },
        detail: {
          summary: "Revoke an open invitation (admin)",
          description: "Revokes an invitation that was not used yet: its link stops working (audited).",
        },
      },
    );
  return new Elysia({ name: "users" }).use(people).use(invitations);
}
