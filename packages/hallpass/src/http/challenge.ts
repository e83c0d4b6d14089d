/**
 * @module hallpass
 *
 * RFC 6750 §3 `WWW-Authenticate: Bearer …` challenges. Every value is a quoted-string with `"`
 * and `\` escaped, and anything outside printable ASCII dropped, so nothing a client sent can
 * inject a header or a parameter.
 */
import type { OAuthErrorName } from './oauth-errors.ts'

export interface ChallengeOptions {
  realm?: string
  error?: OAuthErrorName
  description?: string
  scope?: string
}

/** Escapes a value for an RFC 7230 quoted-string. */
export function quoteHeaderValue(value: string): string {
  let out = ''
  for (const ch of value) {
    const c = ch.charCodeAt(0)
    if (c < 0x20 || c > 0x7e) continue
    out += ch === '"' || ch === '\\' ? `\\${ch}` : ch
  }
  return `"${out}"`
}

/**
 * Builds the challenge. With no credentials presented, RFC 6750 §3.1 says the response should
 * carry no `error`: callers pass only `realm` then.
 *
 * @example
 * import { buildBearerChallenge } from 'hallpass/node'
 * res.setHeader('WWW-Authenticate', buildBearerChallenge({ realm: 'api', error: 'invalid_token', description: 'The token has expired' }))
 */
export function buildBearerChallenge(options: ChallengeOptions): string {
  const params: string[] = []
  if (options.realm !== undefined) params.push(`realm=${quoteHeaderValue(options.realm)}`)
  if (options.error !== undefined) params.push(`error=${quoteHeaderValue(options.error)}`)
  if (options.description !== undefined) params.push(`error_description=${quoteHeaderValue(options.description)}`)
  if (options.scope !== undefined) params.push(`scope=${quoteHeaderValue(options.scope)}`)
  return params.length === 0 ? 'Bearer' : `Bearer ${params.join(', ')}`
}
