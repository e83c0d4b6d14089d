/**
 * @module hallpass
 *
 * The JWS algorithms hallpass implements (RFC 7518 §3, RFC 8037) and what each one binds:
 * key type, curve, hash, and exact signature length. `none` is not in this table and no code
 * path accepts it.
 */

/** A JWS algorithm hallpass can sign and verify with. */
export type JwsAlgorithm =
  | 'HS256' | 'HS384' | 'HS512'
  | 'RS256' | 'RS384' | 'RS512'
  | 'PS256' | 'PS384' | 'PS512'
  | 'ES256' | 'ES384' | 'ES512'
  | 'EdDSA'

export type AlgorithmFamily = 'hmac' | 'rsa' | 'rsa-pss' | 'ecdsa' | 'eddsa'

export interface AlgorithmSpec {
  readonly family: AlgorithmFamily
  /** node:crypto digest name; `undefined` for EdDSA, which hashes internally. */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | undefined
  /** Digest length in bytes: the HMAC tag length, the minimum HMAC key, the PSS salt. */
  readonly hashBytes: number
  /** ECDSA: the named curve (JWK `crv`) and the byte length of r and of s. */
  readonly curve?: 'P-256' | 'P-384' | 'P-521'
  readonly coordinateBytes?: number
}

const spec = (family: AlgorithmFamily, bits: 256 | 384 | 512, curve?: AlgorithmSpec['curve']): AlgorithmSpec =>
  Object.freeze({
    family,
    hash: `sha${bits}` as const,
    hashBytes: bits / 8,
    ...(curve ? { curve, coordinateBytes: curve === 'P-521' ? 66 : bits / 8 } : {}),
  })

export const ALGORITHMS: Readonly<Record<JwsAlgorithm, AlgorithmSpec>> = Object.freeze({
  HS256: spec('hmac', 256),
  HS384: spec('hmac', 384),
  HS512: spec('hmac', 512),
  RS256: spec('rsa', 256),
  RS384: spec('rsa', 384),
  RS512: spec('rsa', 512),
  PS256: spec('rsa-pss', 256),
  PS384: spec('rsa-pss', 384),
  PS512: spec('rsa-pss', 512),
  ES256: spec('ecdsa', 256, 'P-256'),
  ES384: spec('ecdsa', 384, 'P-384'),
  ES512: spec('ecdsa', 512, 'P-521'),
  EdDSA: Object.freeze({ family: 'eddsa', hash: undefined, hashBytes: 64 }),
})

/** Every supported algorithm, in a stable order. */
export const JWS_ALGORITHMS: readonly JwsAlgorithm[] = Object.freeze(Object.keys(ALGORITHMS) as JwsAlgorithm[])

/** True when `alg` is exactly (case-sensitively) one of the supported algorithm names. */
export function isJwsAlgorithm(alg: unknown): alg is JwsAlgorithm {
  return typeof alg === 'string' && Object.hasOwn(ALGORITHMS, alg)
}
