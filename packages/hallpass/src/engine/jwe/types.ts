/**
 * @module hallpass
 *
 * Types shared by JWE encryption and decryption (nested sign-then-encrypt JWTs, RFC 7519 §11.2).
 */
import type { KeyObject } from 'node:crypto'
import type { Jwk } from '../jwk/types.ts'
import type { JweAlgorithm, JweEncryption } from './algorithms.ts'

/**
 * Key material for JWE: a JWK, a `KeyObject`, or raw bytes (only for `dir` and the AES key-wrap
 * algorithms). Strings are never key material, and signing keys (`JwsKey`) are not accepted:
 * encryption and signing keys are kept apart (RFC 8725 §3.3, docs/security.md A9).
 */
export type JweKeyMaterial = Jwk | KeyObject | Uint8Array

/** A JWE protected header as hallpass accepts it, after the policy checks. */
export interface JweHeader {
  readonly alg: JweAlgorithm
  readonly enc: JweEncryption
  readonly kid?: string
  readonly cty?: string
  readonly [parameter: string]: unknown
}

export interface EncryptJwtOptions {
  /** Key-management algorithm. Required unless the key is a JWK whose `alg` names it. */
  alg?: JweAlgorithm
  /**
   * Content encryption. Default: for `dir`, the cipher the key was made for (its JWK `alg`, else
   * the GCM or CBC-HMAC cipher of its length); otherwise `A256GCM`.
   */
  enc?: JweEncryption
  /** `kid` header naming the recipient's key (default: the JWK's `kid`, if any). */
  kid?: string
  /** Refuse to produce a longer JWE (default `DEFAULT_MAX_JWE_BYTES`), so decryption will take it. */
  maxTokenBytes?: number
}

export interface DecryptJwtOptions {
  /**
   * Accepted `alg` values. Default: the one algorithm the key is bound to (its JWK `alg`);
   * required for keys that do not name one (a `KeyObject`, raw bytes, a JWK without `alg`).
   */
  algorithms?: readonly JweAlgorithm[]
  /**
   * Accepted `enc` values. Default: for `dir`, the ciphers whose key length is the key's (or the
   * one its JWK `alg` names); otherwise all of `JWE_ENCRYPTIONS`.
   */
  encryptions?: readonly JweEncryption[]
  /** Reject longer input before decoding anything (default `DEFAULT_MAX_JWE_BYTES`). */
  maxTokenBytes?: number
}

/**
 * Default size limit of a compact JWE: room for an 8 KiB JWS (`DEFAULT_MAX_TOKEN_BYTES`) once
 * encrypted (base64url of the ciphertext is 4/3 of it) plus the largest RSA encrypted key and an
 * `epk` header.
 */
export const DEFAULT_MAX_JWE_BYTES = 16384
