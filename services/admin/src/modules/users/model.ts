import { t } from "elysia";
import { Id, Page, Strict } from "../common.ts";
import { Email, Role } from "../auth/model.ts";

export const UserPatch = Strict({
  name: t.Optional(t.String({ maxLength: 200 })),
  role: t.Optional(Role),
  affiliate_id: t.Optional(
    t.Union([Id, t.Null()], { description: "required for the affiliate role, null otherwise" }),
  ),
  disabled: t.Optional(t.Boolean({ description: "true ends every session at once and refuses sign-in" })),
});
export type UserPatch = typeof UserPatch.static;

export const InvitationCreate = Strict({
  email: Email,
  role: Role,
  affiliate_id: t.Optional(Id),
  name: t.Optional(t.String({ maxLength: 200 })),
});
export type InvitationCreate = typeof InvitationCreate.static;

export const UserQuery = t.Object({
  role: t.Optional(Role),
  affiliate_id: t.Optional(Id),
  ...Page,
});
export const InvitationQuery = t.Object({
  state: t.Optional(
    t.Union([t.Literal("pending"), t.Literal("accepted"), t.Literal("revoked"), t.Literal("expired")]),
  ),
  ...Page,
});

const Time = t.Date();
const NullableTime = t.Union([t.Date(), t.Null()]);
export const UserRow = t.Object({
  id: t.String(),
  email: t.String(),
  name: t.String(),
  role: Role,
  affiliate_id: t.Union([t.String(), t.Null()]),
  totp_enabled_at: NullableTime,
  disabled_at: NullableTime,
  created_at: Time,
  updated_at: NullableTime,
  last_sign_in_at: NullableTime,
});
export type UserRow = typeof UserRow.static;
export const InvitationRow = t.Object({
  id: t.String(),
  email: t.String(),
  name: t.String(),
  role: Role,
  affiliate_id: t.Union([t.String(), t.Null()]),
  invited_by: t.String(),
  created_at: Time,
  expires_at: Time,
  accepted_at: NullableTime,
  revoked_at: NullableTime,
  user_id: t.Union([t.String(), t.Null()]),
});
export type InvitationRow = typeof InvitationRow.static;
export type PagedRows<T> = { data: T[]; next_cursor: string | null };
export const Paged = <T extends ReturnType<typeof t.Object>>(row: T) =>
  t.Object({ data: t.Array(row), next_cursor: t.Union([t.String(), t.Null()]) });
