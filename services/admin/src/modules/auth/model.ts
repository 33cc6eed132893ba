import { t } from "elysia";
import { Strict } from "../common.ts";

export const Email = t.String({
  minLength: 3,
  maxLength: 254,
  pattern: "^[^\\s@]+@[^\\s@]+$",
  description: "an email address (case does not matter)",
});
/** Long enough to resist guessing at the sign-in limit; bounded so hashing stays cheap. */
export const NewPassword = t.String({
  minLength: 12,
  maxLength: 200,
  description: "at least 12 characters",
});
const Password = t.String({ minLength: 1, maxLength: 200 });
export const TotpCode = t.String({
  pattern: "^\\d{6}$",
  description: "the 6-digit code of the authenticator app",
});

export const Role = t.Union(
  [t.Literal("admin"), t.Literal("manager"), t.Literal("analyst"), t.Literal("affiliate")],
  {
    description:
      "admin: everything; manager: configuration; analyst: read-only; affiliate: its own data only",
  },
);

export const SessionUser = t.Object({
  id: t.String(),
  email: t.String(),
  name: t.String(),
  role: Role,
  affiliateId: t.Union([t.String(), t.Null()]),
  totpEnabled: t.Boolean(),
});
export type SessionUser = typeof SessionUser.static;

export const SignedIn = t.Object(
  { user: SessionUser, csrfToken: t.String({ description: "send as X-CSRF-Token on every change" }) },
  { description: "signed in; the session is in the HttpOnly rt_session cookie" },
);

export const SignInError = t.Object({
  error: t.Union([
    t.Literal("invalid_credentials"),
    t.Literal("totp_required"),
    t.Literal("too_many_attempts"),
  ]),
  message: t.String(),
  retry_after_s: t.Optional(t.Integer()),
});

export const SignIn = Strict({
  email: Email,
  password: Password,
  totp: t.Optional(TotpCode),
});

export const PasswordChange = Strict({ current_password: Password, new_password: NewPassword });

export const InvitationToken = Strict({ token: t.String({ minLength: 20, maxLength: 100 }) });
export const InvitationAccept = Strict({
  token: t.String({ minLength: 20, maxLength: 100 }),
  password: NewPassword,
  name: t.Optional(t.String({ maxLength: 200 })),
});

export const TotpEnable = Strict({ code: TotpCode });
export const TotpDisable = Strict({ password: Password, code: TotpCode });
