// Claim checks of RFC 7519 §4.1, RFC 8725 §3.8-3.9 and RFC 9068 §4. Options are validated once
// by createJwtVerifier; this runs per token and only compares.
import { ConfigInvalid, JwtClaimInvalid, JwtExpired, JwtNotYetValid } from '../../errors.ts'
import type { JwtClaims } from './types.ts'

export interface ClaimPolicy {
  readonly issuers: readonly string[] | undefined
  readonly audiences: readonly string[] | undefined
  readonly requiredClaims: readonly string[]
  readonly clockToleranceSeconds: number
  readonly maxTokenAgeSeconds: number | undefined
  readonly now: () => number
}

const NUMERIC_DATES = ['exp', 'nbf', 'iat'] as const
const STRINGS = ['iss', 'sub', 'jti', 'sid', 'scope'] as const

export function validateClaims(claims: Record<string, unknown>, policy: ClaimPolicy): JwtClaims {
  for (const name of policy.requiredClaims) if (claims[name] === undefined) throw new JwtClaimInvalid(name, 'missing')
  // Numeric dates must be finite JSON numbers: "1700000000" as a string, NaN-producing values
  // or huge exponents would otherwise compare in surprising ways.
  for (const name of NUMERIC_DATES) {
    const value = claims[name]
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) throw new JwtClaimInvalid(name, 'type')
  }
  for (const name of STRINGS) {
    const value = claims[name]
    if (value !== undefined && typeof value !== 'string') throw new JwtClaimInvalid(name, 'type')
  }

  const now = Math.floor(policy.now() / 1000)
  // A clock that returns NaN would make every comparison below false: fail closed instead.
  if (!Number.isFinite(now)) throw new ConfigInvalid('now', 'must return a finite number of milliseconds')
  const tolerance = policy.clockToleranceSeconds
  const { exp, nbf, iat } = claims as { exp?: number; nbf?: number; iat?: number }
  if (exp !== undefined && exp <= now - tolerance) throw new JwtExpired('exp')
  if (nbf !== undefined && nbf > now + tolerance) throw new JwtNotYetValid()
  if (iat !== undefined && iat > now + tolerance) throw new JwtClaimInvalid('iat', 'value')
  if (policy.maxTokenAgeSeconds !== undefined) {
    if (iat === undefined) throw new JwtClaimInvalid('iat', 'missing')
    if (now - iat > policy.maxTokenAgeSeconds + tolerance) throw new JwtExpired('iat')
  }

  if (policy.issuers !== undefined) {
    if (claims.iss === undefined) throw new JwtClaimInvalid('iss', 'missing')
    if (!policy.issuers.includes(claims.iss as string)) throw new JwtClaimInvalid('iss', 'value')
  }
  const aud = claims.aud
  if (aud !== undefined && typeof aud !== 'string' && !(Array.isArray(aud) && aud.every((a) => typeof a === 'string'))) {
    throw new JwtClaimInvalid('aud', 'type')
  }
  if (policy.audiences !== undefined) {
    if (aud === undefined) throw new JwtClaimInvalid('aud', 'missing')
    const accepted = policy.audiences
    if (typeof aud === 'string' ? !accepted.includes(aud) : !(aud).some((a) => accepted.includes(a))) {
      throw new JwtClaimInvalid('aud', 'value')
    }
  }
  return claims
}
