/**
 * @module hallpass
 *
 * The key type every signing and verifying function takes.
 */
import type { KeyObject } from 'node:crypto'
import type { JwsAlgorithm } from '../algorithms.ts'
import type { KEY_INTERNALS, KeyInternals } from '../internal/key-internals.ts'

/** A JSON Web Key (RFC 7517) as plain JSON. */
export interface Jwk {
  kty?: string
  kid?: string
  alg?: string
  use?: string
  key_ops?: string[]
  crv?: string
  x?: string
  y?: string
  n?: string
  e?: string
  d?: string
  p?: string
  q?: string
  dp?: string
  dq?: string
  qi?: string
  k?: string
  [member: string]: unknown
}

/** A JWK Set (RFC 7517 §5). */
export interface JwkSet {
  keys: Jwk[]
}

/**
 * A key bound to exactly one JWS algorithm, made only by `importKey` or `generateKey`.
 * `type` is `secret` for HMAC, `private` for an asymmetric signing key (which also verifies),
 * `public` for a verify-only key.
 */
export interface JwsKey {
  readonly kid: string
  readonly alg: JwsAlgorithm
  readonly type: 'secret' | 'private' | 'public'
  readonly keyObject: KeyObject
  /** The public half (asymmetric keys only). */
  readonly publicKey: KeyObject | undefined
  /** @internal */
  readonly [KEY_INTERNALS]: KeyInternals
}
