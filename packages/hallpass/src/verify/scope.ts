/**
 * @module hallpass/verify
 *
 * Scope checks (RFC 9068 §2.2.3: `scope` is a space-separated string of scope tokens, RFC 6749
 * §3.3). A resource that requires several scopes requires all of them. A missing scope is
 * `ERR_SCOPE_INSUFFICIENT`, which the HTTP mapping turns into 403 `insufficient_scope` with the
 * required scopes in the challenge (RFC 6750 §3.1).
 */
import { ConfigInvalid, ScopeInsufficient } from '../errors.ts'
import type { JwtClaims } from '../engine/jwt/types.ts'

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). No space, `"` or `\`, so a
// scope can be put in a challenge's quoted-string as it is.
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/

// Claims objects are frozen and cached by the verifier, so their parsed scopes can be too.
const parsed = new WeakMap<object, ReadonlySet<string>>()

function grantedScopes(claims: Readonly<JwtClaims>): ReadonlySet<string> {
  let scopes = parsed.get(claims)
  if (scopes === undefined) {
    scopes = new Set(typeof claims.scope === 'string' ? claims.scope.split(' ').filter((s) => s.length > 0) : [])
    parsed.set(claims, scopes)
  }
  return scopes
}

/**
 * True when the claims grant every scope in `required`.
 *
 * @example
 * import { hasScopes } from 'hallpass/verify'
 * if (!hasScopes(claims, ['orders:write'])) return forbidden()
 */
export function hasScopes(claims: Readonly<JwtClaims>, required: readonly string[]): boolean {
  if (required.length === 0) return true
  const granted = grantedScopes(claims)
  for (const scope of required) if (!granted.has(scope)) return false
  return true
}

/**
 * Throws `ERR_SCOPE_INSUFFICIENT` unless the claims grant every scope in `required`.
 *
 * @example
 * import { requireScopes } from 'hallpass/verify'
 * requireScopes(verifier.verify(token), ['orders:write'])
 */
export function requireScopes(claims: Readonly<JwtClaims>, required: readonly string[]): void {
  if (!hasScopes(claims, required)) throw new ScopeInsufficient(required)
}

/**
 * @internal Checks a scope option: a space-separated string or an array of scope tokens.
 * Returns undefined when none is required.
 */
export function checkScopeOption(value: unknown, path: string): readonly string[] | undefined {
  if (value === undefined) return undefined
  const list = typeof value === 'string' ? value.split(' ').filter((s) => s.length > 0) : value
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && SCOPE_TOKEN.test(s))) {
    throw new ConfigInvalid(path, 'must be a scope or a non-empty list of scopes (RFC 6749 §3.3 scope tokens)')
  }
  return Object.freeze([...new Set(list as string[])])
}
