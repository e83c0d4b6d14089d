/**
 * @module hallpass
 *
 * What a resource server answers when a request is not let through (RFC 6750 §3), framework
 * free: the server and every middleware write these, so the same request gets the same status,
 * challenge and body everywhere.
 */
import { HallpassError, ScopeInsufficient } from '../errors.ts'
import type { BearerResult } from './bearer.ts'
import { buildBearerChallenge } from './challenge.ts'
import { toHttpError } from './oauth-errors.ts'

/** An error response, ready to be written. */
export interface HttpFailure {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: { readonly error: string; readonly error_description: string }
}

// Not a hallpass error code (nothing was verified): one fixed text for every malformed header.
const MALFORMED_HEADER = 'The request has a malformed Authorization header'

/**
 * The answer to a request without a usable bearer token: without one (or with another
 * scheme's credential) a bare challenge with no error code (RFC 6750 §3.1); with a malformed
 * one, or several, 400 `invalid_request`.
 */
export function bearerFailure(result: Exclude<BearerResult, { kind: 'token' }>, realm: string): HttpFailure {
  if (result.kind === 'invalid') {
    return {
      status: 400,
      headers: { 'www-authenticate': buildBearerChallenge({ realm, error: 'invalid_request', description: MALFORMED_HEADER }) },
      body: { error: 'invalid_request', error_description: MALFORMED_HEADER },
    }
  }
  return {
    status: 401,
    headers: { 'www-authenticate': buildBearerChallenge({ realm }) },
    body: { error: 'unauthorized', error_description: 'Authentication required' },
  }
}

/** The answer to a token or scope that failed with `error`; rethrows anything not a hallpass error. */
export function resourceErrorFailure(error: unknown, realm: string): HttpFailure {
  if (!(error instanceof HallpassError)) throw error
  const mapped = toHttpError(error.code, 'resource')
  const headers: Record<string, string> = {}
  // Challenges go with 401 and 403 (RFC 6750 §3); a 503 is not the credential's fault and a
  // challenge would invite the client to throw its token away.
  if (mapped.status === 401 || mapped.status === 403) {
    headers['www-authenticate'] = buildBearerChallenge({
      realm,
      error: mapped.error,
      description: mapped.description,
      scope: error instanceof ScopeInsufficient ? error.required.join(' ') : undefined,
    })
  }
  return { status: mapped.status, headers, body: { error: mapped.error, error_description: mapped.description } }
}
