/**
 * @module hallpass
 *
 * Types shared by JWS signing and verification.
 */
import type { JwsAlgorithm } from '../algorithms.ts'
import type { JwsKey } from '../jwk/types.ts'

/** A verified JWS protected header. Only these members can be present. */
export interface JwsHeader {
  readonly alg: JwsAlgorithm
  readonly kid?: string
  readonly typ?: string
  readonly cty?: string
  readonly [parameter: string]: unknown
}

/**
 * Picks the verification key for a header among keys that are already trusted. It must throw
 * `JwksNoMatchingKey` (never return a default) when nothing fits. A `Keyring` is one.
 */
export interface KeyResolver {
  resolveVerifyKey(header: JwsHeader): JwsKey
}

/** What verification accepts: one key, or a resolver over several. */
export type VerificationKeys = JwsKey | KeyResolver

export const DEFAULT_MAX_TOKEN_BYTES = 8192
