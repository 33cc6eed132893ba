/**
 * Managing people (admins only): invitations, roles, disabling. The rules that keep the console
 * usable: an affiliate user belongs to exactly one affiliate (no other role has one), and the last
 * active admin cannot be demoted or disabled — nobody could then manage users.
 */
import type { Sql, Tx } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import type { Role } from "../../auth.ts";
import { audit } from "../../changes.ts";
import { endSessionsOf } from "../../sessions.ts";
import { hashKey, randomToken } from "../../tokens.ts";
import { VISIBILITY } from "../../visibility.ts";
import { normaliseEmail } from "../auth/service.ts";
import type { InvitationCreate, InvitationRow, UserPatch, UserRow } from "./model.ts";

// The columns an admin is shown are the allow-list's (visibility.ts): one list, also for what is audited.
const USER_COLUMNS = [...VISIBILITY.users.admin];
const INVITATION_COLUMNS = [...VISIBILITY.user_invitations.admin];

/** Where the console takes an invitation token (in the fragment: never sent to a server or logged). */
export const ACCEPT_PATH = "/ui/#/accept-invitation?token=";

/** 400 unless role and affiliate agree: affiliate users need one, nobody else may have one. */
export async function checkRoleAffiliate(tx: Tx, role: Role, affiliateId: string | null): Promise<void> {
  if ((role === "affiliate") !== (affiliateId !== null))
    throw new HttpError(
      400,
      "invalid_request",
      "affiliate_id: an affiliate user needs affiliate_id, other roles must not have it",
      "affiliate_id",
    );
  if (affiliateId !== null) {
    const [a] = await tx`select id from affiliates where id = ${affiliateId}`;
    if (!a) throw new HttpError(400, "invalid_request", "affiliate_id: no such affiliate", "affiliate_id");
  }
}

export async function invite(
  sql: Sql,
  input: InvitationCreate,
  settings: { invitationSeconds: number },
  who: string,
) {
  const email = normaliseEmail(input.email);
  const token = randomToken(32);
  const invitation = await sql.begin(async (tx) => {
    await checkRoleAffiliate(tx, input.role, input.affiliate_id ?? null);
    const [user] = await tx`select id from users where email = ${email}`;
    if (user)
      throw new HttpError(
        409,
        "user_exists",
        `email: a user with this email exists (id ${user.id})`,
        "email",
      );
    // One open invitation per email: a new one replaces any earlier.
    await tx`
      update user_invitations set revoked_at = now()
      where email = ${email} and accepted_at is null and revoked_at is null`;
    const [row] = await tx<InvitationRow[]>`
      insert into user_invitations (email, name, role, affiliate_id, token_hash, invited_by, expires_at)
      values (${email}, ${input.name?.trim() ?? ""}, ${input.role}, ${input.affiliate_id ?? null}, ${hashKey(token)}, ${who},
              now() + make_interval(secs => ${settings.invitationSeconds}))
      returning ${tx(INVITATION_COLUMNS)}`;
    if (!row) throw new Error("insert returned nothing");
    await audit(tx, { actor: who, action: "invite", resource: "user-invitations", id: row.id, after: row });
    return row;
  });
  // The token is in this answer only; the invitee opens the path on the console's origin.
  return { ...invitation, token, accept_path: `${ACCEPT_PATH}${token}` };
}

export async function revokeInvitation(sql: Sql, id: string, who: string) {
  return sql.begin(async (tx) => {
    const [row] = await tx<InvitationRow[]>`
      update user_invitations set revoked_at = coalesce(revoked_at, now())
      where id = ${id} and accepted_at is null
      returning ${tx(INVITATION_COLUMNS)}`;
    if (!row) throw new HttpError(404, "not_found", "no such open invitation", "id");
    await audit(tx, { actor: who, action: "revoke", resource: "user-invitations", id, after: row });
    return row;
  });
}

/** Whether a user with this role and state counts as an active admin. */
const activeAdmin = (u: { role: string; disabled_at: unknown }) => u.role === "admin" && !u.disabled_at;

export async function updateUser(sql: Sql, id: string, patch: UserPatch, who: string) {
  const changes = Object.entries(patch).filter(([, v]) => v !== undefined);
  if (changes.length === 0) throw new HttpError(400, "invalid_request", "nothing to change", "(body)");
  const { row, endSessions } = await sql.begin(async (tx) => {
    // Every admin row locked in one order, so two admins demoting each other cannot both win.
    await tx`select id from users where role = 'admin' order by id for update`;
    const [before] = await tx<UserRow[]>`select ${tx(USER_COLUMNS)} from users where id = ${id} for update`;
    if (!before) throw new HttpError(404, "not_found", "no such user", "id");
    const role = (patch.role ?? before.role) as Role;
    const affiliateId =
      patch.affiliate_id !== undefined
        ? patch.affiliate_id
        : role === "affiliate"
          ? before.affiliate_id
          : null;
    await checkRoleAffiliate(tx, role, affiliateId);
    const disabledAt =
      patch.disabled === undefined
        ? before.disabled_at
        : patch.disabled
          ? (before.disabled_at ?? new Date())
          : null;
    if (activeAdmin(before) && !activeAdmin({ role, disabled_at: disabledAt })) {
      const [others] = await tx`
        select count(*)::int as n from users where role = 'admin' and disabled_at is null and id <> ${id}`;
      if ((others?.n ?? 0) === 0)
        throw new HttpError(
          409,
          "last_admin",
          "this is the last active admin: make another admin first",
          "role",
        );
    }
    const [after] = await tx<UserRow[]>`
      update users set name = ${patch.name ?? before.name}, role = ${role}, affiliate_id = ${affiliateId},
        disabled_at = ${disabledAt}, updated_at = now()
      where id = ${id}
      returning ${tx(USER_COLUMNS)}`;
    if (!after) throw new HttpError(404, "not_found", "no such user", "id");
    await audit(tx, { actor: who, action: "update", resource: "users", id, before, after });
    return { row: after, endSessions: patch.disabled === true };
  });
  // Sessions read role and status at every request; a disabled user's are ended too, for the record.
  if (endSessions) await endSessionsOf(sql, id);
  return row;
}

export async function signOutEverywhere(sql: Sql, id: string, who: string) {
  const [user] = await sql`select id from users where id = ${id}`;
  if (!user) throw new HttpError(404, "not_found", "no such user", "id");
  const ended = await endSessionsOf(sql, id);
  await sql.begin((tx) =>
    audit(tx, {
      actor: who,
      action: "end-sessions",
      resource: "users",
      id,
      after: { sessions_ended: ended },
    }),
  );
  return { sessions_ended: ended };
}
