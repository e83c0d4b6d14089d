// Encrypted access tokens at the issuer: which key seals a session's token under each key
// model, and how the issuer opens its own tokens again (its own endpoints, introspection).
import { KeyObject } from 'node:crypto'
import { ConfigInvalid, KeyInvalid, SessionInputInvalid } from '../errors.ts'
import { createJwtDecrypter, createJwtEncrypter, isCompactJwe, type JwtDecrypter, type JwtEncrypter } from '../engine/jwe/token-encryption.ts'
import type { JweKeyMaterial } from '../engine/jwe/types.ts'
import { checkKnownKeys } from '../internal/options.ts'

/**
 * How access tokens are encrypted (signed first, then encrypted: RFC 7519 §11.2).
 *
 * - `shared`: one `dir` key (A256GCM, 32 bytes) that the issuer and every trusted service
 *   hold. The first key of `keys` encrypts; all of them are accepted back. Rotate by giving
 *   services the next key first, then putting it first here, then dropping the old one once
 *   the access-token lifetime has passed. A function is read at every token, for keys that
 *   change while the process runs.
 * - `audience`: each token is encrypted to its one audience's own ECDH-ES+A256KW public key,
 *   which `keyFor` returns (a service publishes its key set; the server fetches it). Only that
 *   service can read the token; the issuer reads its own tokens back through a content key
 *   derived from its secret. A session must then have exactly one audience.
 */
export type AccessTokenEncryption =
  | { readonly model: 'shared'; readonly keys: readonly JweKeyMaterial[] | (() => readonly JweKeyMaterial[]) }
  | { readonly model: 'audience'; readonly keyFor: (audience: string) => JweKeyMaterial }

/** The issuer's side of the two models. */
export interface AccessTokenSealer {
  /** Throws `ERR_SESSION_INPUT_INVALID` when tokens for this audience cannot be encrypted. */
  checkAudience(audience: readonly string[] | null): void
  seal(signedJwt: string, audience: readonly string[] | null): string
  /** The signed JWT of a token this issuer made: opened when encrypted, as is otherwise. */
  open(token: string): string
}

/** A sealer that leaves tokens plain: encryption is off. */
export const PLAIN_TOKENS: AccessTokenSealer = Object.freeze({
  checkAudience: () => undefined,
  seal: (signedJwt: string) => signedJwt,
  open: (token: string) => token,
})

/**
 * Checks the option once, at start. `issuerKey` (derived from the operator secret) lets the
 * issuer open the tokens it encrypted to a service's key.
 */
export function createAccessTokenSealer(option: unknown, issuerKey: Uint8Array): AccessTokenSealer {
  if (option === undefined) return PLAIN_TOKENS
  if (typeof option !== 'object' || option === null) throw new ConfigInvalid('accessToken.encryption', 'must be an object')
  const model = (option as { model?: unknown }).model
  if (model === 'shared') {
    checkKnownKeys(option, ['model', 'keys'], 'accessToken.encryption.')
    return sharedSealer((option as { keys: unknown }).keys)
  }
  if (model === 'audience') {
    checkKnownKeys(option, ['model', 'keyFor'], 'accessToken.encryption.')
    const keyFor = (option as { keyFor: unknown }).keyFor
    if (typeof keyFor !== 'function') throw new ConfigInvalid('accessToken.encryption.keyFor', 'must be a function of the audience')
    return audienceSealer(keyFor as (audience: string) => JweKeyMaterial, issuerKey)
  }
  throw new ConfigInvalid('accessToken.encryption.model', 'must be "shared" or "audience"')
}

function sharedSealer(keys: unknown): AccessTokenSealer {
  const read = typeof keys === 'function' ? (keys as () => unknown) : () => keys
  let last: unknown
  let encrypter: JwtEncrypter
  let decrypter: JwtDecrypter
  // Keys are checked now, and again whenever the function hands out a new list.
  const current = (): void => {
    const list = read()
    if (list === last) return
    if (!Array.isArray(list) || list.length === 0) throw new ConfigInvalid('accessToken.encryption.keys', 'must be a non-empty array of "dir" keys')
    if (!list.every(isDirKey)) throw new KeyInvalid('the shared model takes 32-byte "dir" keys only (accessToken.encryption.keys)')
    const next = createJwtEncrypter(list[0] as JweKeyMaterial)
    decrypter = createJwtDecrypter({ keys: list as JweKeyMaterial[] })
    encrypter = next
    last = list
  }
  current()
  return Object.freeze({
    checkAudience: () => undefined,
    seal(signedJwt: string) {
      current()
      return encrypter(signedJwt)
    },
    open(token: string) {
      if (!isCompactJwe(token)) return token
      current()
      return decrypter(token)
    },
  })
}

function audienceSealer(keyFor: (audience: string) => JweKeyMaterial, issuerKey: Uint8Array): AccessTokenSealer {
  // One encrypter per key object: a key set refreshed with the same keys keeps its encrypters.
  const encrypters = new WeakMap<object, JwtEncrypter>()
  const decrypter = createJwtDecrypter({ issuerKey })
  const encrypterFor = (audience: readonly string[] | null): JwtEncrypter => {
    if (audience === null || audience.length !== 1) {
      throw new SessionInputInvalid('audience', 'must name exactly one audience: each access token is encrypted to its audience\'s key')
    }
    const key = keyFor(audience[0]!) as object
    let encrypter = encrypters.get(key)
    if (encrypter === undefined) encrypters.set(key, (encrypter = createJwtEncrypter(key as JweKeyMaterial, { issuerKey })))
    return encrypter
  }
  return Object.freeze({
    checkAudience(audience: readonly string[] | null) {
      encrypterFor(audience)
    },
    seal: (signedJwt: string, audience: readonly string[] | null) => encrypterFor(audience)(signedJwt),
    open: (token: string) => (isCompactJwe(token) ? decrypter(token) : token),
  })
}

function isDirKey(key: unknown): boolean {
  if (key instanceof Uint8Array) return true
  if (key instanceof KeyObject) return key.type === 'secret'
  return typeof key === 'object' && key !== null && (key as { kty?: unknown }).kty === 'oct'
}
