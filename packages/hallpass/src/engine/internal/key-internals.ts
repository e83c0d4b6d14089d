// What a JwsKey carries for the hot path, behind a module-private symbol: only keys made by
// importKey/generateKey have it, so a hand-built object can never reach the crypto (a key is a
// typed object bound to one alg at import, never raw material chosen at verify time: A2/A4).
import type { KeyObject, SignKeyObjectInput, VerifyKeyObjectInput } from 'node:crypto'
import type { AlgorithmSpec } from '../algorithms.ts'

export const KEY_INTERNALS: unique symbol = Symbol('hallpass.key')

export interface KeyInternals {
  readonly spec: AlgorithmSpec
  /** Exact signature length in bytes for this key and alg. */
  readonly signatureBytes: number
  /** HMAC: the secret. Asymmetric: the public key with its padding/encoding options. */
  readonly verifyWith: KeyObject | VerifyKeyObjectInput
  /** HMAC: the secret. Asymmetric private keys: the key with options. Public keys: undefined. */
  readonly signWith: KeyObject | SignKeyObjectInput | undefined
  /** ECDSA: the group order n, big-endian, left-padded to the coordinate length. */
  readonly order: Buffer | undefined
}
