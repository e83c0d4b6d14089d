// Which URLs a verifier may fetch. Keys and revocations travel over TLS only: a JWKS fetched
// over plain HTTP lets anyone on the path substitute their own keys (RFC 8414 §2 requires
// `https` for the issuer and its endpoints). The one exception is local development, where
// the issuer itself is `http://localhost` or a loopback address; then loopback URLs may be
// plain HTTP too, and nothing else.
import { ConfigInvalid } from '../../errors.ts'

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])

function isLoopback(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname)
}

/**
 * Parses and checks the issuer identifier (RFC 8414 §2: an `https` URL with no query or
 * fragment). Returns whether it is a local development issuer.
 */
export function checkIssuer(issuer: unknown): { readonly issuer: string; readonly devHttp: boolean } {
  if (typeof issuer !== 'string' || issuer.length === 0) throw new ConfigInvalid('issuer', 'must be a non-empty URL string')
  let url: URL
  try {
    url = new URL(issuer)
  } catch {
    throw new ConfigInvalid('issuer', 'must be an absolute URL')
  }
  if (url.search !== '' || url.hash !== '' || issuer.includes('#') || issuer.includes('?')) {
    throw new ConfigInvalid('issuer', 'must not have a query or fragment (RFC 8414 §2)')
  }
  if (url.username !== '' || url.password !== '') throw new ConfigInvalid('issuer', 'must not contain credentials')
  if (url.protocol === 'https:') return { issuer, devHttp: false }
  if (url.protocol === 'http:' && isLoopback(url)) return { issuer, devHttp: true }
  throw new ConfigInvalid('issuer', 'must be an https URL (plain http only for localhost during development)')
}

/** Checks a URL the verifier will fetch (JWKS, discovery, feed); `path` names the option. */
export function checkFetchUrl(value: unknown, path: string, devHttp: boolean): string {
  if (typeof value !== 'string' || value.length === 0) throw new ConfigInvalid(path, 'must be a non-empty URL string')
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigInvalid(path, 'must be an absolute URL')
  }
  // Credentials in a URL end up in logs and error messages; a key-set URL never needs them.
  if (url.username !== '' || url.password !== '') throw new ConfigInvalid(path, 'must not contain credentials')
  if (url.protocol === 'https:') return url.href
  if (url.protocol === 'http:' && devHttp && isLoopback(url)) return url.href
  throw new ConfigInvalid(path, devHttp ? 'must be an https URL or a loopback http URL' : 'must be an https URL')
}

/** The OpenID discovery URL of an issuer (OIDC Discovery §4: appended to the issuer). */
export function discoveryUrl(issuer: string): string {
  return `${issuer.endsWith('/') ? issuer.slice(0, -1) : issuer}/.well-known/openid-configuration`
}
