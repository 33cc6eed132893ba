/**
 * People signing in to a real admin process (the deployed entry, through the shared runner):
 * the session cookie's attributes, CSRF on every cookie-authenticated change (and none for API
 * keys), invitations, the TOTP second factor, disabling and roles taking effect at once, the
 * sign-in limit per email and address, and every sign-in in the audit log.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BrowserSession } from "../../testing/browser-session.ts";
import { adminHarness, type Harness } from "../../test-support.ts";
import { totpCode } from "../../totp.ts";
import { type Partner, seedPartner, VISITOR } from "../../testing/partners.ts";

const ADMIN_EMAIL = "Boss@Example.test";
const ADMIN_PASSWORD = "correct horse battery staple";
let h: Harness;
let A: Partner;
let B: Partner;
let ip = 0;
/** A browser from its own address, so the sign-in limit of one test does not reach another. */
const browser = () => new BrowserSession(h.url, `198.51.100.${++ip}`);

beforeAll(async () => {
  h = await adminHarness("people", {
    process: true,
    env: {
      ADMIN_BOOTSTRAP_EMAIL: ADMIN_EMAIL,
      ADMIN_BOOTSTRAP_PASSWORD: ADMIN_PASSWORD,
      // The test is the proxy: X-Forwarded-For names each browser's address.
      TRUSTED_PROXIES: "127.0.0.1/32,::1/128",
      SIGN_IN_MAX_FAILURES: "3",
    },
  });
  A = await seedPartner(h, "A");
  B = await seedPartner(h, "B");
}, 90_000);

afterAll(async () => {
  await h?.cleanup();
});

async function audit(action: string, email: string) {
  const a = await h.call<{ data: { actor: string; after: Record<string, unknown> }[] }>(
    "GET",
    `/v1/audit-log?resource=users&action=${action}&order=desc&limit=50`,
    h.keys.admin,
  );
  return a.body.data.filter((e) => e.after?.email === email.toLowerCase());
}

/** Invites `email` as the signed-in admin and accepts it in a fresh browser; returns that browser. */
async function invited(admin: BrowserSession, email: string, role: string, affiliateId?: string) {
  const inv = await admin.request<{ token: string; accept_path: string }>("POST", "/v1/user-invitations", {
    email,
    role,
    ...(affiliateId ? { affiliate_id: affiliateId } : {}),
  });
  expect(inv.status, inv.text).toBe(201);
  const person = browser();
  const accepted = await person.request<{ csrfToken: string; user: { role: string } }>(
    "POST",
    "/v1/auth/invitations/accept",
    { token: inv.body.token, password: `${email} password` },
  );
  expect(accepted.status, accepted.text).toBe(200);
  person.csrf = accepted.body.csrfToken;
  return { person, token: inv.body.token, acceptPath: inv.body.accept_path };
}

describe("sign-in and the session cookie", () => {
  test("the first admin signs in; the cookie is HttpOnly, SameSite=Strict, not Secure over http", async () => {
    const b = browser();
    const a = await b.signIn("boss@example.TEST", ADMIN_PASSWORD);
    expect(a.status, a.text).toBe(200);
    expect(a.body.user).toMatchObject({ email: "boss@example.test", role: "admin", affiliateId: null });
    expect(a.body.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(b.lastSetCookie).toMatchObject({ httpOnly: true, sameSite: "strict", path: "/" });
    expect(b.lastSetCookie?.secure).toBeFalsy();
    const me = await b.request<{ user: { email: string }; csrfToken: string }>("GET", "/v1/auth/me");
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ user: a.body.user, csrfToken: a.body.csrfToken });
    // the generic "who am I" answers for a session too
    const who = await b.request("GET", "/v1/me");
    expect(who.body).toMatchObject({ kind: "user", user_id: a.body.user.id, role: "admin" });
  });

  test("behind https (X-Forwarded-Proto) the cookie is Secure", async () => {
    const b = browser();
    await b.request(
      "POST",
      "/v1/auth/sign-in",
      { email: ADMIN_EMAIL, password: ADMIN_PASSWORD },
      {
        headers: { "x-forwarded-proto": "https" },
      },
    );
    expect(b.lastSetCookie?.secure).toBe(true);
  });

  test("wrong password and unknown email are the same 401, and both are audited", async () => {
    const b = browser();
    const wrong = await b.signIn(ADMIN_EMAIL, "not the password at all");
    const unknown = await b.signIn("nobody@example.test", "whatever password");
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body.error).toBe("invalid_credentials");
    expect(unknown.body.error).toBe("invalid_credentials");
    expect(b.cookie).toBeNull();
    expect((await b.request("GET", "/v1/auth/me")).status).toBe(401);
    const failed = await audit("sign-in-failed", ADMIN_EMAIL);
    expect(failed.some((e) => e.after.reason === "wrong_password" && e.after.ip === b.forwardedFor)).toBe(
      true,
    );
    const nobody = await audit("sign-in-failed", "nobody@example.test");
    expect(nobody[0]?.after).toMatchObject({ reason: "unknown_email", ip: b.forwardedFor });
    expect(JSON.stringify(failed)).not.toContain("not the password at all");
    const ok = await audit("sign-in", ADMIN_EMAIL);
    expect(ok.length).toBeGreaterThan(0);
    expect(ok[0]?.actor).toMatch(/^user:\d+:boss@example.test$/);
  });

  test("a cookie-authenticated change needs the CSRF token; a read and an API key do not", async () => {
    const b = browser();
    await b.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const brand = { name: "Csrf", currency: "EUR", timezone: "Europe/Malta" };
    const without = await b.request("POST", "/v1/brands", { ...brand, slug: "csrf-none" }, { csrf: null });
    expect(without.status).toBe(403);
    expect(without.text).toContain("csrf_required");
    const forged = await b.request(
      "POST",
      "/v1/brands",
      { ...brand, slug: "csrf-forged" },
      { csrf: "x".repeat(43) },
    );
    expect(forged.status).toBe(403);
    // another session's token is no good either
    const other = browser();
    await other.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    expect(other.csrf).not.toBe(b.csrf);
    const crossed = await b.request(
      "POST",
      "/v1/brands",
      { ...brand, slug: "csrf-crossed" },
      { csrf: other.csrf },
    );
    expect(crossed.status).toBe(403);
    expect((await h.sql`select slug from brands where slug like 'csrf-%'`).length).toBe(0);
    expect((await b.request("GET", "/v1/brands")).status).toBe(200);
    const made = await b.request<{ id: string }>("POST", "/v1/brands", { ...brand, slug: "csrf-ok" });
    expect(made.status, made.text).toBe(201);
    const changes = await h.call<{ data: { actor: string }[] }>(
      "GET",
      `/v1/audit-log?resource=brands&resource_id=${made.body.id}`,
      h.keys.admin,
    );
    expect(changes.body.data[0]?.actor).toBe(`user:${b.user?.id}:boss@example.test`);
    expect((await h.call("POST", "/v1/brands", h.keys.admin, { ...brand, slug: "csrf-key" })).status).toBe(
      201,
    );
  });

  test("sign-out ends the session: the old cookie is refused afterwards", async () => {
    const b = browser();
    await b.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const old = b.cookie;
    expect((await b.request("POST", "/v1/auth/sign-out", undefined, { csrf: null })).status).toBe(403);
    const out = await b.request("POST", "/v1/auth/sign-out");
    expect(out.status).toBe(200);
    expect(b.lastSetCookie?.maxAge).toBe(0);
    b.cookie = old;
    expect((await b.request("GET", "/v1/auth/me")).status).toBe(401);
    expect((await b.request("GET", "/v1/brands")).status).toBe(401);
  });
});

describe("the sign-in limit", () => {
  test("after 3 failures the email is locked from that address, even for the right password; other addresses are not", async () => {
    const attacker = browser();
    for (let i = 0; i < 3; i++)
      expect((await attacker.signIn(ADMIN_EMAIL, `guess ${i} wrong!`)).status).toBe(401);
    const locked = await attacker.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    expect(locked.status).toBe(429);
    expect(locked.body.error).toBe("too_many_attempts");
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(800);
    expect(attacker.cookie).toBeNull();
    const refused = await audit("sign-in-failed", ADMIN_EMAIL);
    expect(
      refused.some((e) => e.after.reason === "too_many_attempts" && e.after.ip === attacker.forwardedFor),
    ).toBe(true);
    // The real admin, elsewhere, still gets in.
    expect((await browser().signIn(ADMIN_EMAIL, ADMIN_PASSWORD)).status).toBe(200);
  });
});

describe("invitations, roles and the affiliate's own data", () => {
  test("an admin invites an affiliate user; the invitee sets a password, once, and sees only its affiliate's data", async () => {
    const admin = browser();
    await admin.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const { person, token, acceptPath } = await invited(
      admin,
      "Aff.A@example.test",
      "affiliate",
      A.affiliate.id,
    );
    expect(acceptPath).toEndWith(token);
    const me = await person.request<{ user: { role: string; affiliateId: string; email: string } }>(
      "GET",
      "/v1/auth/me",
    );
    expect(me.body.user).toMatchObject({
      role: "affiliate",
      affiliateId: A.affiliate.id,
      email: "aff.a@example.test",
    });
    // single use
    const again = await browser().request("POST", "/v1/auth/invitations/accept", {
      token,
      password: "another password",
    });
    expect(again.status).toBe(404);
    expect((await browser().request("POST", "/v1/auth/invitations/inspect", { token })).status).toBe(404);
    // and the password works for a later sign-in
    expect((await browser().signIn("aff.a@example.test", "Aff.A@example.test password")).status).toBe(200);

    const clicks = await person.request<{ data: Record<string, unknown>[] }>("GET", "/v1/clicks");
    expect(clicks.body.data.map((c) => c.click_id)).toEqual([A.owned.click]);
    for (const path of [
      "/v1/clicks",
      "/v1/conversions",
      `/v1/conversions/${A.owned.conversion}`,
      "/v1/ledger-entries",
      "/v1/balances",
      "/v1/affiliate-postbacks",
      "/v1/deliveries",
      "/v1/reports/performance?group_by=sub1",
      `/v1/clicks?affiliate_id=${B.affiliate.id}`,
      `/v1/conversions/${B.owned.conversion}`,
    ]) {
      const a = await person.request("GET", path);
      expect([200, 404], path).toContain(a.status);
      for (const secret of [B.owned.click, B.owned.marker, VISITOR.ip, VISITOR.userAgent])
        expect(a.text.includes(secret), `${path} leaked ${secret}`).toBe(false);
    }
    for (const path of ["/v1/users", "/v1/user-invitations", "/v1/audit-log", "/v1/api-keys"])
      expect((await person.request("GET", path)).status, path).toBe(403);
    const forbidden = await person.request("POST", "/v1/user-invitations", {
      email: "x@example.test",
      role: "admin",
    });
    expect(forbidden.status).toBe(403);
  });

  test("an invitation names an existing affiliate for the affiliate role, and none for others", async () => {
    const admin = browser();
    await admin.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const noAffiliate = await admin.request("POST", "/v1/user-invitations", {
      email: "a1@example.test",
      role: "affiliate",
    });
    expect(noAffiliate.status).toBe(400);
    const stray = await admin.request("POST", "/v1/user-invitations", {
      email: "a2@example.test",
      role: "analyst",
      affiliate_id: A.affiliate.id,
    });
    expect(stray.status).toBe(400);
    const taken = await admin.request("POST", "/v1/user-invitations", {
      email: ADMIN_EMAIL,
      role: "analyst",
    });
    expect(taken.status).toBe(409);
  });

  test("a new invitation replaces the open one; an expired one cannot be accepted", async () => {
    const admin = browser();
    await admin.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const first = await admin.request<{ token: string; id: string }>("POST", "/v1/user-invitations", {
      email: "twice@example.test",
      role: "analyst",
    });
    const second = await admin.request<{ token: string; id: string }>("POST", "/v1/user-invitations", {
      email: "twice@example.test",
      role: "manager",
    });
    expect(
      (await browser().request("POST", "/v1/auth/invitations/inspect", { token: first.body.token })).status,
    ).toBe(404);
    const open = await browser().request("POST", "/v1/auth/invitations/inspect", {
      token: second.body.token,
    });
    expect(open.body).toMatchObject({ email: "twice@example.test", role: "manager" });
    await h.sql`update user_invitations set expires_at = now() - interval '1 second' where id = ${second.body.id}`;
    const late = await browser().request("POST", "/v1/auth/invitations/accept", {
      token: second.body.token,
      password: "a long enough password",
    });
    expect(late.status).toBe(404);
    expect((await h.sql`select 1 from users where email = 'twice@example.test'`).length).toBe(0);
  });

  test("a role change and disabling take effect on the user's next request; the last admin stays", async () => {
    const admin = browser();
    await admin.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const { person } = await invited(admin, "analyst@example.test", "analyst");
    const id = (await person.request<{ user: { id: string } }>("GET", "/v1/auth/me")).body.user.id;
    const brand = { slug: "by-analyst", name: "X", currency: "EUR", timezone: "Europe/Malta" };
    expect((await person.request("POST", "/v1/brands", brand)).status).toBe(403);
    expect((await admin.request("PATCH", `/v1/users/${id}`, { role: "manager" })).status).toBe(200);
    expect((await person.request("POST", "/v1/offers", {})).status).toBe(400); // a manager now: validation, not 403
    const off = await admin.request<{ disabled_at: string }>("PATCH", `/v1/users/${id}`, { disabled: true });
    expect(off.body.disabled_at).toBeTruthy();
    expect((await person.request("GET", "/v1/brands")).status).toBe(401);
    expect((await browser().signIn("analyst@example.test", "analyst@example.test password")).status).toBe(
      401,
    );
    // the bootstrap admin is the only admin user: it cannot be demoted or disabled
    const self = admin.user?.id as string;
    expect((await admin.request("PATCH", `/v1/users/${self}`, { role: "analyst" })).status).toBe(409);
    expect((await admin.request("PATCH", `/v1/users/${self}`, { disabled: true })).status).toBe(409);
    const listed = await admin.request<{ data: Record<string, unknown>[] }>("GET", "/v1/users");
    expect(listed.body.data.length).toBeGreaterThanOrEqual(2);
    for (const u of listed.body.data) {
      expect(u).not.toHaveProperty("password_hash");
      expect(u).not.toHaveProperty("totp_secret");
    }
  });
});

describe("the TOTP second factor and passwords", () => {
  test("with TOTP on, sign-in needs a current code, and a code works once", async () => {
    const admin = browser();
    await admin.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const { person } = await invited(admin, "totp@example.test", "analyst");
    const setup = await person.request<{ secret: string; otpauth_uri: string }>(
      "POST",
      "/v1/auth/totp/setup",
    );
    expect(setup.status, setup.text).toBe(200);
    expect(setup.body.otpauth_uri).toStartWith("otpauth://totp/");
    expect((await person.request("POST", "/v1/auth/totp/enable", { code: "000000" })).status).toBe(400);
    const enabled = await person.request<{ user: { totpEnabled: boolean } }>("POST", "/v1/auth/totp/enable", {
      code: totpCode(setup.body.secret),
    });
    expect(enabled.body.user.totpEnabled).toBe(true);

    const b = browser();
    const password = "totp@example.test password";
    const challenged = await b.signIn("totp@example.test", password);
    expect(challenged.status).toBe(401);
    expect(challenged.body.error).toBe("totp_required");
    expect(b.cookie).toBeNull();
    expect((await b.signIn("totp@example.test", password, "123456")).body.error).toBe("totp_required");
    // The code enabling it used this step: the next step's code (accepted within the window) signs in, once.
    const next = totpCode(setup.body.secret, Date.now() + 30_000);
    expect((await b.signIn("totp@example.test", password, next)).status).toBe(200);
    const replay = await browser().signIn("totp@example.test", password, next);
    expect(replay.status).toBe(401);
    expect(replay.body.error).toBe("totp_required");
    // An API key has no second factor to set up.
    expect((await h.call("POST", "/v1/auth/totp/setup", h.keys.admin)).status).toBe(403);
  });

  test("a password change needs the current one and ends the user's other sessions", async () => {
    const admin = browser();
    await admin.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const { person } = await invited(admin, "pw@example.test", "analyst");
    const elsewhere = browser();
    await elsewhere.signIn("pw@example.test", "pw@example.test password");
    const wrong = await person.request("POST", "/v1/auth/password", {
      current_password: "not it at all",
      new_password: "a brand new password",
    });
    expect(wrong.status).toBe(403);
    const short = await person.request("POST", "/v1/auth/password", {
      current_password: "pw@example.test password",
      new_password: "short",
    });
    expect(short.status).toBe(400);
    const changed = await person.request("POST", "/v1/auth/password", {
      current_password: "pw@example.test password",
      new_password: "a brand new password",
    });
    expect(changed.status, changed.text).toBe(200);
    expect((await person.request("GET", "/v1/auth/me")).status).toBe(200);
    expect((await elsewhere.request("GET", "/v1/auth/me")).status).toBe(401);
    expect((await browser().signIn("pw@example.test", "a brand new password")).status).toBe(200);
  });
});
