// Encrypted access tokens at the verifier: which tokens must be opened, with which keys, before
// the inner signed JWT goes through the very same checks as a plain one.
import { ConfigInvalid, JweInvalid } from '../errors.ts'
import { createJwtDecrypter, isCompactJwe, type JwtDecrypter } from '../engine/jwe/token-encryption.ts'
import { DEFAULT_MAX_JWE_BYTES, type JweKeyMaterial } from '../engine/jwe/types.ts'
import { checkKnownKeys } from '../internal/options.ts'

/** Decryption keys, or a function returning the current ones (read at each verification). */
export type DecryptionKeys = JweKeyMaterial | readonly JweKeyMaterial[] | (() => JweKeyMaterial | readonly JweKeyMaterial[])

export interface DecryptionOptions {
  /**
   * The private keys that open this service's tokens: the shared `dir` keys, or this service's
   * own ECDH-ES+A256KW keys. List the next key before the issuer uses it and keep the previous
   * one until its tokens have expired. A function is read at each verification (keep it
   * cheap: return the same array until the keys change); new keys empty the verified-token cache.
   */
  keys: DecryptionKeys
  /** Accept plain (signed, unencrypted) tokens too, e.g. while the issuer turns encryption on (default false). */
  allowPlainTokens?: boolean
}

export interface TokenOpener {
  /** Turns a presented token into the signed JWT to verify, or throws `ERR_JWE_*`. */
  open(token: string): string
  /**
   * Reads the keys function again; true when it handed out new keys, so that verifications
   * made under the old ones (the verified-token cache) are forgotten.
   */
  keysChanged(): boolean
}

const NO_DECRYPTION: TokenOpener = Object.freeze({
  open(token: string) {
    if (isCompactJwe(token)) throw new JweInvalid('the token is encrypted and this verifier has no decryption keys (option "decryption")')
    return token
  },
  keysChanged: () => false,
})

/**
 * Checks the `decryption` option once, at start; a bad key fails here, not at the first token.
 * The JWE may be as long as an encrypted `maxTokenBytes` JWS (its base64url is 4/3 of it, plus
 * the header), and never shorter than the engine's default.
 */
export function createTokenOpener(value: DecryptionOptions | undefined, maxTokenBytes: number | undefined): TokenOpener {
  if (value === undefined) return NO_DECRYPTION
  checkKnownKeys(value, ['keys', 'allowPlainTokens'], 'decryption.')
  if (value.allowPlainTokens !== undefined && typeof value.allowPlainTokens !== 'boolean') throw new ConfigInvalid('decryption.allowPlainTokens', 'must be a boolean')
  const allowPlain = value.allowPlainTokens === true
  const read = typeof value.keys === 'function' ? (value.keys) : undefined
  const maxJweBytes = Math.max(DEFAULT_MAX_JWE_BYTES, Math.ceil(((maxTokenBytes ?? 0) * 4) / 3) + 4096)
  let last = read === undefined ? value.keys : read()
  let decrypter = build(last, maxJweBytes)
  return Object.freeze({
    open(token: string) {
      if (isCompactJwe(token)) return decrypter(token)
      if (!allowPlain) throw new JweInvalid('the token is not encrypted, and this verifier accepts only encrypted tokens')
      return token
    },
    keysChanged() {
      if (read === undefined) return false
      const now = read()
      if (now === last) return false
      // A function that builds a new array of the same keys at each call changes nothing.
      const same = sameKeys(now, last)
      last = now
      if (same) return false
      decrypter = build(now, maxJweBytes)
      return true
    },
  })
}

function build(keys: unknown, maxTokenBytes: number): JwtDecrypter {
  if (keys === undefined || (Array.isArray(keys) && keys.length === 0)) throw new ConfigInvalid('decryption.keys', 'must hold at least one key')
  return createJwtDecrypter({ keys: keys as JweKeyMaterial | readonly JweKeyMaterial[], maxTokenBytes })
}

function sameKeys(a: unknown, b: unknown): boolean {
  return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((key, i) => key === b[i])
}
