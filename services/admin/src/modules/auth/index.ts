import type { Sql } from "@roundtrip/db";
import { type ProxyTrust, requestClientAddress } from "@roundtrip/intake";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, authentication, type Principal } from "../../auth.ts";
import { audit } from "../../changes.ts";
import { ErrorBody } from "../../openapi/document.ts";
import {
  clearedSessionCookie,
  endSession,
  lookUpSession,
  secureFor,
  sessionCookie,
  sessionTokenOf,
} from "../../sessions.ts";
import {
  InvitationAccept,
  InvitationToken,
  PasswordChange,
  SessionUser,
  SignedIn,
  SignIn,
  SignInError,
  TotpDisable,
  TotpEnable,
} from "./model.ts";
import {
  type AuthSettings,
  acceptInvitation,
  changePassword,
  disableTotp,
  enableTotp,
  inspectInvitation,
  setUpTotp,
  signIn,
  userById,
} from "./service.ts";

export type { AuthSettings } from "./service.ts";

type SocketServer = Parameters<typeof requestClientAddress>[1];

/** Account settings are a person's own: an API key has no password or second factor. */
function assertUser(p: Principal): string {
  if (p.kind !== "user")
    throw new HttpError(403, "forbidden", "only a signed-in user has a password and a second factor");
  return p.id;
}

const Done = t.Object({ ok: t.Literal(true) });

/**
 * People sign in to the console: sign-in and sign-out, who is signed in, password change, the
 * TOTP second factor, and accepting an invitation (which signs the new user in). A session lives
 * in the HttpOnly, SameSite=Strict `rt_session` cookie; its CSRF token comes with sign-in and
 * `/v1/auth/me` and must be sent as `X-CSRF-Token` on every change.
 */
export function auth(sql: Sql, settings: AuthSettings & { proxyTrust: ProxyTrust }) {
  const client = (request: Request, server: SocketServer) => ({
    ip: requestClientAddress(request, server, settings.proxyTrust),
    userAgent: request.headers.get("user-agent"),
  });
  const startSession = (request: Request, set: { headers: Record<string, unknown> }, token: string) => {
    set.headers["set-cookie"] = sessionCookie(
      token,
      Math.min(settings.sessions.idleSeconds, settings.sessions.maxSeconds),
      secureFor(request, settings.sessions.secureCookie),
    );
    // Answers that carry a session never come from a cache.
    set.headers["cache-control"] = "no-store";
  };
  return (
    new Elysia({ prefix: "/v1/auth", tags: ["auth"] })
      .post(
        "/sign-in",
        async ({ body, request, server, set, status }) => {
          const outcome = await signIn(sql, settings, body, client(request, server));
          switch (outcome.kind) {
            case "signed_in": {
              startSession(request, set, outcome.token);
              const session = await lookUpSession(sql, outcome.token);
              return { user: outcome.user, csrfToken: session?.csrfToken ?? "" };
            }
            case "invalid_credentials":
              return status(401, {
                error: "invalid_credentials" as const,
                message: "wrong email or password",
              });
            case "totp_required":
              return status(401, { error: "totp_required" as const, message: outcome.message });
            case "too_many_attempts":
              set.headers["retry-after"] = String(outcome.retryAfterS);
              return status(429, {
                error: "too_many_attempts" as const,
                message: `too many failed sign-ins; try again in ${outcome.retryAfterS} s`,
                retry_after_s: outcome.retryAfterS,
              });
          }
        },
        {
          body: SignIn,
          response: { 200: SignedIn, 401: SignInError, 429: SignInError },
          detail: {
            summary: "Sign in with email and password (and a TOTP code when enabled)",
            description:
              "Sets the HttpOnly `rt_session` cookie and returns the user and the CSRF token to send as `X-CSRF-Token` on changes. " +
              "401 `invalid_credentials` for a wrong email or password, 401 `totp_required` when the user has a second factor and " +
              "no or a wrong code was sent, 429 `too_many_attempts` after repeated failures from the same address. Every attempt is audited.",
          },
        },
      )
      .get(
        "/me",
        async ({ headers, status, set }) => {
          const token = sessionTokenOf(headers.cookie);
          const session = token ? await lookUpSession(sql, token) : null;
          if (!session) return status(401, { error: { code: "unauthorized", message: "not signed in" } });
          set.headers["cache-control"] = "no-store";
          return { user: await userById(sql, session.userId), csrfToken: session.csrfToken };
        },
        {
          response: { 200: SignedIn, 401: ErrorBody },
          detail: {
            summary: "The signed-in user and the session's CSRF token",
            description: "For the console at start-up; 401 without a live session (API keys: see /v1/me).",
          },
        },
      )
      .post("/invitations/inspect", ({ body }) => inspectInvitation(sql, body.token), {
        body: InvitationToken,
        response: {
          200: t.Object({
            email: t.String(),
            name: t.String(),
            role: t.String(),
            affiliate_id: t.Union([t.String(), t.Null()]),
            expires_at: t.Date(),
          }),
        },
        detail: {
          summary: "What an invitation is for (email, role), before accepting it",
          description: "404 `invitation_invalid` when the token is unknown, used, revoked or expired.",
        },
      })
      .post(
        "/invitations/accept",
        async ({ body, request, server, set }) => {
          const accepted = await acceptInvitation(sql, settings, body, client(request, server));
          startSession(request, set, accepted.token);
          const session = await lookUpSession(sql, accepted.token);
          return { user: accepted.user, csrfToken: session?.csrfToken ?? "" };
        },
        {
          body: InvitationAccept,
          response: { 200: SignedIn },
          detail: {
            summary: "Accept an invitation: set a password, create the user, sign in",
            description:
              "The token works once and until it expires. 404 `invitation_invalid` otherwise, 409 `user_exists` when the email already has an account.",
          },
        },
      )
      // Everything below needs a signed-in caller (and the CSRF token for changes).
      .use(authentication(sql))
      .post(
        "/sign-out",
        async ({ principal, request, set }) => {
          if (!principal.sessionId)
            throw new HttpError(
              400,
              "not_signed_in",
              "an API key has no session to end; revoke the key instead",
            );
          await endSession(sql, principal.sessionId);
          await sql.begin((tx) =>
            audit(tx, { actor: actor(principal), action: "sign-out", resource: "users", id: principal.id }),
          );
          set.headers["set-cookie"] = clearedSessionCookie(
            secureFor(request, settings.sessions.secureCookie),
          );
          return { ok: true as const };
        },
        {
          response: { 200: Done },
          detail: {
            summary: "Sign out: ends this session and clears its cookie",
            description:
              "Ends the calling session and clears its cookie; the session token stops working at once.",
          },
        },
      )
      .post(
        "/password",
        async ({ body, principal }) => {
          await changePassword(sql, assertUser(principal), principal.sessionId, body, actor(principal));
          return { ok: true as const };
        },
        {
          body: PasswordChange,
          response: { 200: Done },
          detail: {
            summary: "Change your password",
            description:
              "Takes the current password; ends every other session of yours. 403 `wrong_password`.",
          },
        },
      )
      .post("/totp/setup", ({ principal }) => setUpTotp(sql, assertUser(principal)), {
        response: {
          200: t.Object({
            secret: t.String({ description: "base32, for typing into an authenticator app" }),
            otpauth_uri: t.String({ description: "otpauth://totp/… for a QR code" }),
          }),
        },
        detail: {
          summary: "Start setting up a TOTP second factor",
          description:
            "A new secret, not yet required at sign-in: POST /v1/auth/totp/enable with a code from it turns it on.",
        },
      })
      .post(
        "/totp/enable",
        async ({ body, principal }) => {
          await enableTotp(sql, assertUser(principal), body.code, actor(principal));
          return { user: await userById(sql, principal.id) };
        },
        {
          body: TotpEnable,
          response: { 200: t.Object({ user: SessionUser }) },
          detail: {
            summary: "Turn the second factor on with a current code",
            description: "From then on sign-in needs a code (401 `totp_required` without).",
          },
        },
      )
      .post(
        "/totp/disable",
        async ({ body, principal }) => {
          await disableTotp(sql, assertUser(principal), body, actor(principal));
          return { user: await userById(sql, principal.id) };
        },
        {
          body: TotpDisable,
          response: { 200: t.Object({ user: SessionUser }) },
          detail: {
            summary: "Turn the second factor off (password and a current code)",
            description:
              "Turns the TOTP second factor off for the signed-in user; needs the password and a current code.",
          },
        },
      )
  );
}
