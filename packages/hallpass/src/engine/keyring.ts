/**
 * @module hallpass
 *
 * A `Keyring` holds the trusted keys of one issuer, each with a lifecycle state:
 * - `next`: published in the JWKS so verifiers cache it, not yet signing (publish-then-use);
 * - `active`: the one key that signs;
 * - `retired`: no longer signs, still verifies until every token it signed has expired.
 * Keyrings are immutable: rotation builds a new one.
 */
import { ConfigInvalid, JwksNoMatchingKey, KeyInvalid, KeyringNoSigningKey } from '../errors.ts'
import { ALGORITHMS, isJwsAlgorithm, type JwsAlgorithm } from './algorithms.ts'
import { checkKnownKeys } from '../internal/options.ts'
import { KEY_INTERNALS } from './internal/key-internals.ts'
import { exportPublicJwk } from './jwk/export-jwk.ts'
import { importKey } from './jwk/import-key.ts'
import type { Jwk, JwkSet, JwsKey } from './jwk/types.ts'
import type { JwsHeader, KeyResolver } from './jws/types.ts'

export type KeyState = 'next' | 'active' | 'retired'

export interface KeyringEntry {
  readonly key: JwsKey
  readonly state: KeyState
}

export interface Keyring extends KeyResolver {
  readonly entries: readonly KeyringEntry[]
  /** JWKs of a JWKS that could not be imported, with the reason (see `importJwks`). */
  readonly rejected: ReadonlyArray<{ readonly kid: string | undefined; readonly reason: string }>
  /** The active key. Throws `ERR_KEYRING_NO_SIGNING_KEY` when there is none (or it cannot sign). */
  signingKey(): JwsKey
  /** The entry with this `kid`, if any. */
  get(kid: string): KeyringEntry | undefined
  /** The public JWKS to publish: every asymmetric key in any state, public members only. */
  publicJwks(): JwkSet
}

/**
 * Builds a keyring. A bare key counts as `active`. Throws `ERR_KEY_INVALID` for duplicate kids,
 * more than one active key, or a mix of HMAC and asymmetric keys (one issuer uses one kind, so
 * a secret can never sit next to a public key an attacker knows).
 *
 * @example
 * import { createKeyring, generateKey } from 'hallpass'
 * const keyring = createKeyring([{ key: generateKey('ES256'), state: 'active' }])
 * const token = signJwt(claims, keyring.signingKey())
 */
export function createKeyring(keys: ReadonlyArray<JwsKey | KeyringEntry>, rejected: Keyring['rejected'] = []): Keyring {
  if (!Array.isArray(keys)) throw new KeyInvalid('a keyring takes an array of keys')
  const entries = keys.map(toEntry)
  const byKid = new Map<string, JwsKey>()
  let active: JwsKey | undefined
  for (const { key, state } of entries) {
    if (byKid.has(key.kid)) throw new KeyInvalid(`duplicate kid "${key.kid}" in the keyring`)
    byKid.set(key.kid, key)
    if (state === 'active') {
      if (active !== undefined) throw new KeyInvalid('a keyring has at most one active key')
      active = key
    }
  }
  const symmetric = entries.filter((e) => e.key.type === 'secret').length
  if (symmetric > 0 && symmetric < entries.length) throw new KeyInvalid('a keyring cannot mix HMAC secrets and asymmetric keys')
  const frozenEntries = Object.freeze(entries)

  return Object.freeze({
    entries: frozenEntries,
    rejected: Object.freeze([...rejected]),
    signingKey(): JwsKey {
      if (active === undefined || active.type === 'public') throw new KeyringNoSigningKey()
      return active
    },
    get(kid: string): KeyringEntry | undefined {
      return frozenEntries.find((e) => e.key.kid === kid)
    },
    resolveVerifyKey(header: JwsHeader): JwsKey {
      if (header.kid !== undefined) {
        const key = byKid.get(header.kid)
        if (key === undefined) throw new JwksNoMatchingKey(header.kid, 'no trusted key has this kid')
        return key
      }
      // Without a kid, a key is chosen only when exactly one could apply.
      let found: JwsKey | undefined
      for (const { key } of frozenEntries) {
        if (key.alg !== header.alg) continue
        if (found !== undefined) throw new JwksNoMatchingKey(undefined, 'the token has no kid and several keys could apply')
        found = key
      }
      if (found === undefined) throw new JwksNoMatchingKey(undefined)
      return found
    },
    publicJwks(): JwkSet {
      return { keys: frozenEntries.filter((e) => e.key.publicKey !== undefined).map((e) => exportPublicJwk(e.key)) }
    },
  })
}

function toEntry(item: JwsKey | KeyringEntry): KeyringEntry {
  if (typeof item !== 'object' || item === null) throw new KeyInvalid('keyring members must be keys')
  if (KEY_INTERNALS in item) return Object.freeze({ key: item, state: 'active' as const })
  const entry = item
  if (typeof entry.key !== 'object' || entry.key === null || !(KEY_INTERNALS in entry.key)) {
    throw new KeyInvalid('keyring members must be keys made by importKey or generateKey')
  }
  if (entry.state !== 'next' && entry.state !== 'active' && entry.state !== 'retired') {
    throw new KeyInvalid('a key state is "next", "active" or "retired"')
  }
  return Object.freeze({ key: entry.key, state: entry.state })
}

export interface ImportJwksOptions {
  /** Accept `oct` and private keys too (default false: a JWKS from a URL is public keys only). */
  allowPrivate?: boolean
  /** Algorithm for RSA keys that carry no `alg` (default: such keys are rejected). */
  defaultRsaAlgorithm?: JwsAlgorithm
}

const MAX_JWKS_KEYS = 100

/**
 * Imports a JWK Set as a verify-only keyring: every key verifies and none signs. Keys that
 * cannot be used for signatures (`use: "enc"`, unknown `kty`, an RSA key with neither `alg` nor
 * `defaultRsaAlgorithm`, weak or malformed keys) are left out and listed in `rejected`; a set
 * with duplicate kids or mixing HMAC and asymmetric keys is refused whole.
 *
 * @example
 * import { importJwks } from 'hallpass'
 * const keyring = importJwks(await (await fetch(jwksUri)).json())
 */
export function importJwks(jwks: JwkSet, options: ImportJwksOptions = {}): Keyring {
  checkKnownKeys(options, ['allowPrivate', 'defaultRsaAlgorithm'])
  if (options.allowPrivate !== undefined && typeof options.allowPrivate !== 'boolean') throw new ConfigInvalid('allowPrivate', 'must be a boolean')
  const defaultRsa: unknown = options.defaultRsaAlgorithm
  if (defaultRsa !== undefined && !(isJwsAlgorithm(defaultRsa) && ALGORITHMS[defaultRsa].family.startsWith('rsa'))) {
    throw new ConfigInvalid('defaultRsaAlgorithm', 'must be one of RS256, RS384, RS512, PS256, PS384, PS512')
  }
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys)) throw new KeyInvalid('a JWKS is an object with a "keys" array')
  if (jwks.keys.length > MAX_JWKS_KEYS) throw new KeyInvalid(`a JWKS may hold at most ${MAX_JWKS_KEYS} keys`)
  const kids = new Set<string>()
  let symmetric = 0
  const keys: JwsKey[] = []
  const rejected: Array<{ kid: string | undefined; reason: string }> = []
  for (const jwk of jwks.keys) {
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new KeyInvalid('every JWKS member must be an object')
    const kid = typeof jwk.kid === 'string' ? jwk.kid : undefined
    if (kid !== undefined) {
      if (kids.has(kid)) throw new KeyInvalid(`duplicate kid "${kid}" in the JWKS`)
      kids.add(kid)
    }
    if (jwk.kty === 'oct') symmetric++
    try {
      const alg = inferAlgorithm(jwk, options.defaultRsaAlgorithm)
      keys.push(importKey(jwk, { alg, publicOnly: options.allowPrivate !== true && jwk.kty !== 'oct' ? true : undefined }))
    } catch (error) {
      if (!(error instanceof KeyInvalid)) throw error
      rejected.push({ kid, reason: error.reason })
    }
  }
  if (symmetric > 0 && symmetric < jwks.keys.length) throw new KeyInvalid('a JWKS cannot mix "oct" and asymmetric keys')
  if (symmetric > 0 && options.allowPrivate !== true) throw new KeyInvalid('"oct" keys are secrets and are only accepted with allowPrivate')
  // Each key enters as `retired` (verifies, never signs): a JWKS routinely holds several keys,
  // and a keyring allows only one `active` one, the signing key, which a JWKS consumer never has.
  return createKeyring(keys.map((key) => ({ key, state: 'retired' as const })), rejected)
}

function inferAlgorithm(jwk: Jwk, defaultRsa: JwsAlgorithm | undefined): JwsAlgorithm {
  if (jwk.alg !== undefined) {
    if (!isJwsAlgorithm(jwk.alg)) throw new KeyInvalid('the JWK "alg" is not a supported JWS algorithm')
    return jwk.alg
  }
  switch (jwk.kty) {
    case 'EC':
      if (jwk.crv === 'P-256') return 'ES256'
      if (jwk.crv === 'P-384') return 'ES384'
      if (jwk.crv === 'P-521') return 'ES512'
      throw new KeyInvalid('unsupported EC curve')
    case 'OKP':
      if (jwk.crv === 'Ed25519' || jwk.crv === 'Ed448') return 'EdDSA'
      throw new KeyInvalid('unsupported OKP curve')
    case 'RSA':
      if (defaultRsa !== undefined) return defaultRsa
      throw new KeyInvalid('an RSA JWK without "alg" has no single algorithm')
    default:
      throw new KeyInvalid('a JWK without "alg" must be EC or OKP')
  }
}
