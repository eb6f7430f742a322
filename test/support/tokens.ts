// Tokens for the auth tests, signed with jose directly so each rejection case can be built exactly.
import { SignJWT } from "jose";
import { testSecret } from "./harness.ts";

const key = new TextEncoder().encode(testSecret);
const now = () => Math.floor(Date.now() / 1000);

export function signToken(
  payload: Record<string, unknown>,
  options: { alg?: string; secret?: Uint8Array; exp?: number | null; nbf?: number } = {},
): Promise<string> {
  let token = new SignJWT(payload).setProtectedHeader({ alg: options.alg ?? "HS256", typ: "JWT" }).setIssuedAt();
  if (options.exp !== null) token = token.setExpirationTime(options.exp ?? now() + 600);
  if (options.nbf !== undefined) token = token.setNotBefore(options.nbf);
  return token.sign(options.secret ?? key);
}

export const adminToken = () => signToken({ role: "admin" });

/** A token with `alg: none` and no signature, which must never pass. */
export function unsignedToken(payload: Record<string, unknown>): string {
  const encode = (value: unknown) => btoa(JSON.stringify(value)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
  return `${encode({ alg: "none", typ: "JWT" })}.${encode({ ...payload, exp: now() + 600 })}.`;
}

export { now };
