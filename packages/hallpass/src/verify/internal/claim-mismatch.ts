// A verifier configured for another audience or issuer than the tokens carry refuses every
// request with the same 401 "claims are invalid", which explains nothing to the operator. So
// the first such refusal (then at most one a minute per claim) becomes an event naming what
// the tokens carry and what the verifier expects. The values are read only after the
// signature verified (the engine checks claims last), so they are the issuer's own words;
// they are still cut short and kept to printable ASCII before anyone logs them.
import { JwtClaimInvalid } from '../../errors.ts'
import type { VerifierEvent } from '../types.ts'

const EVERY_MS = 60_000
const MAX_VALUES = 5
const MAX_LENGTH = 100

export type ClaimMismatchEvent = Extract<VerifierEvent, { type: 'token.claim_mismatch' }>

/**
 * Returns the event to report for `error` on `token`, or undefined (not a mismatch, or too
 * soon). `token` may be a function, read only when an event is due: an encrypted token is
 * opened again for it.
 */
export function createClaimMismatchExplainer(expected: { readonly iss: readonly string[]; readonly aud: readonly string[] }, now: () => number) {
  const lastAt = new Map<'aud' | 'iss', number>()
  return (error: unknown, token: string | (() => string)): ClaimMismatchEvent | undefined => {
    if (!(error instanceof JwtClaimInvalid) || (error.claim !== 'aud' && error.claim !== 'iss')) return undefined
    const claim = error.claim
    const at = now()
    const last = lastAt.get(claim)
    if (last !== undefined && at - last < EVERY_MS) return undefined
    lastAt.set(claim, at)
    return { type: 'token.claim_mismatch', claim, expected: expected[claim], got: claimValues(token, claim) }
  }
}

// Never throws: the explanation must not replace the verification error it explains (an
// encrypted token opened again may fail if its keys changed in between).
function claimValues(token: string | (() => string), claim: string): readonly string[] {
  try {
    const text = typeof token === 'function' ? token() : token
    const payload = JSON.parse(Buffer.from(text.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
    const value = payload[claim]
    const list = Array.isArray(value) ? value : value === undefined ? [] : [value]
    return list.slice(0, MAX_VALUES).map((item) => (typeof item === 'string' ? item.slice(0, MAX_LENGTH).replace(/[^\x20-\x7e]/g, '?') : `(${typeof item})`))
  } catch {
    return []
  }
}
