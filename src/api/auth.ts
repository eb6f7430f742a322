// The admin token check: HS256 JWTs signed with JWT_SECRET, with `exp` required, `nbf` honoured,
// and `role: "admin"` or "admin" in `roles`. Rejections never reach a route handler.
import { jwt } from "@elysiajs/jwt";
import { Elysia } from "elysia";
import { SignJWT } from "jose";
import { HttpError } from "./errors.ts";

const challenge = { "www-authenticate": 'Bearer realm="location-batch"' };

function unauthorized(message: string): HttpError {
  return new HttpError(401, message, {}, challenge);
}

/** Reads the `alg` of a compact JWS header without trusting it; jose then checks the signature. */
function headerAlgorithm(token: string): string | null {
  const [header] = token.split(".");
  if (!header) return null;
  try {
    const json = JSON.parse(atob(header.replaceAll("-", "+").replaceAll("_", "/")));
    return typeof json?.alg === "string" ? json.alg : null;
  } catch {
    return null;
  }
}

export function isAdmin(payload: Record<string, unknown>): boolean {
  if (payload.role === "admin") return true;
  return Array.isArray(payload.roles) && payload.roles.includes("admin");
}

/**
 * Builds an Elysia plugin that rejects every request to a path that `isPublic` does not accept unless it
 * carries a valid admin token. It runs when the request arrives, before the body is parsed or
 * validated, so a request without a valid token learns nothing about its body.
 */
export function adminGuard(secret: string, isPublic: (path: string) => boolean) {
  return new Elysia({ name: "admin-guard", seed: secret })
    .use(jwt({ name: "adminJwt", secret, alg: "HS256" }))
    .onRequest(async ({ request, adminJwt }) => {
      if (isPublic(new URL(request.url).pathname)) return;
      const header = request.headers.get("authorization");
      if (header === null) throw unauthorized("missing Authorization header: send Authorization: Bearer <admin JWT>");
      const match = /^bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/i.exec(header.trim());
      if (!match) throw unauthorized("Authorization header must be Bearer followed by a JWT");
      const token = match[1]!;
      const algorithm = headerAlgorithm(token);
      if (algorithm === null) throw unauthorized("token header is not valid base64url JSON with an alg");
      if (algorithm !== "HS256") throw unauthorized(`token algorithm must be HS256, got ${algorithm}`);
      const payload = await adminJwt.verify(token, { algorithms: ["HS256"], requiredClaims: ["exp"] });
      if (payload === false) throw unauthorized("token is invalid or expired: its signature, exp or nbf did not check out");
      if (!Number.isFinite(payload.exp)) throw unauthorized("token exp must be a finite number of seconds");
      if (!isAdmin(payload as Record<string, unknown>)) {
        throw new HttpError(403, 'token is valid but not an admin\'s: it needs role "admin" or "admin" in roles');
      }
    });
}

/** Signs an admin token valid for `ttlSeconds`. */
export async function signAdminToken(secret: string, ttlSeconds = 24 * 3600, subject = "admin"): Promise<string> {
  const key = new TextEncoder().encode(secret);
  return new SignJWT({ role: "admin" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(key);
}
