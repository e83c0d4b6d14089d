/**
 * @module hallpass/node
 *
 * Bearer authentication for plain `node:http` servers, plus the framework-neutral pieces the
 * other adapters are built from (bearer parsing, RFC 6750 challenges, the error mapping).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { JwtClaims } from '../engine/jwt/types.ts'
import {
  authenticateHeader,
  authenticateHeaderOrWait,
  checkAuthOptions,
  checkVerifier,
  nodeAuthorization,
  type AuthOptions,
  type AuthOutcome,
  type AuthSettings,
  type TokenVerifier,
} from './internal/authenticate.ts'

export type { AuthOptions, HallpassAuth, TokenVerifier } from './internal/authenticate.ts'
export { parseBearerHeader, type BearerResult } from '../http/bearer.ts'
export { buildBearerChallenge, quoteHeaderValue, type ChallengeOptions } from '../http/challenge.ts'
export { ERROR_DESCRIPTIONS, toHttpError, type ErrorContext, type HttpError, type OAuthErrorName } from '../http/oauth-errors.ts'

// Options are checked once per options object, not per request.
const checkedOptions = new WeakMap<object, AuthSettings>()
const DEFAULT_SETTINGS = checkAuthOptions(undefined)

function settingsOf(options: AuthOptions | undefined): AuthSettings {
  if (options === undefined) return DEFAULT_SETTINGS
  let settings = checkedOptions.get(options)
  if (settings === undefined) {
    settings = checkAuthOptions(options)
    checkedOptions.set(options, settings)
  }
  return settings
}

/**
 * Authenticates a request. Returns the verified claims; or, when it fails, writes the RFC 6750
 * error response itself (status, `WWW-Authenticate`, JSON body) and returns `undefined`: the
 * caller must stop there. With `optional: true`, a request without credentials returns `null`
 * and nothing is written.
 *
 * @example
 * import { createServer } from 'node:http'
 * import { createVerifier } from 'hallpass/verify'
 * import { authenticate } from 'hallpass/node'
 * const verifier = await createVerifier({ issuer: 'https://auth.example.com' })
 * createServer((req, res) => {
 *   const claims = authenticate(req, res, verifier, { scope: 'orders:read' })
 *   if (claims === undefined) return
 *   res.end(`hello ${claims.sub}`)
 * }).listen(3000)
 */
export function authenticate(
  req: IncomingMessage,
  res: ServerResponse,
  verifier: TokenVerifier,
  options?: AuthOptions,
): Readonly<JwtClaims> | null | undefined {
  return settle(res, authenticateHeader(checkVerifier(verifier), nodeAuthorization(req), settingsOf(options)))
}

/**
 * `authenticate`, except that a token naming a key the verifier does not hold yet (one the
 * issuer published a moment ago) waits for one refetch of the issuer's keys instead of failing.
 * Resolves as `authenticate` returns.
 *
 * @example
 * import { authenticateAsync } from 'hallpass/node'
 * createServer(async (req, res) => {
 *   const claims = await authenticateAsync(req, res, verifier)
 *   if (claims === undefined) return
 *   res.end(`hello ${claims.sub}`)
 * }).listen(3000)
 */
export async function authenticateAsync(
  req: IncomingMessage,
  res: ServerResponse,
  verifier: TokenVerifier,
  options?: AuthOptions,
): Promise<Readonly<JwtClaims> | null | undefined> {
  return settle(res, await authenticateHeaderOrWait(checkVerifier(verifier), nodeAuthorization(req), settingsOf(options)))
}

function settle(res: ServerResponse, outcome: AuthOutcome): Readonly<JwtClaims> | null | undefined {
  if (outcome.ok) return outcome.auth === undefined ? null : outcome.auth.claims
  const { status, headers, body } = outcome.failure
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8' })
  res.end(JSON.stringify(body))
  return undefined
}
