/**
 * @module hallpass
 *
 * The token engine: JWS/JWT sign and verify on node:crypto, keys, keyrings. Pure: no I/O.
 */
export { ALGORITHMS, JWS_ALGORITHMS, isJwsAlgorithm, type AlgorithmSpec, type JwsAlgorithm } from './algorithms.ts'
export { exportPem, exportPrivateJwk, exportPublicJwk } from './jwk/export-jwk.ts'
export { generateKey, type GenerateKeyOptions } from './jwk/generate-key.ts'
export { importKey, type ImportKeyOptions, type KeyMaterial } from './jwk/import-key.ts'
export { computeJwkThumbprint } from './jwk/thumbprint.ts'
export type { Jwk, JwkSet, JwsKey } from './jwk/types.ts'
export { signJws } from './jws/sign.ts'
export { DEFAULT_MAX_TOKEN_BYTES, type JwsHeader, type KeyResolver, type VerificationKeys } from './jws/types.ts'
export { verifyJws, type VerifyJwsOptions } from './jws/verify.ts'
export { signJwt, type SignJwtOptions } from './jwt/sign.ts'
export { ACCESS_TOKEN_TYP, type JwtClaims } from './jwt/types.ts'
export {
  createJwtVerifier,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  verifyJwt,
  type JwtVerifier,
  type JwtVerifierOptions,
  type VerifiedJwt,
} from './jwt/verify.ts'
export {
  createKeyring,
  importJwks,
  type ImportJwksOptions,
  type Keyring,
  type KeyringEntry,
  type KeyState,
} from './keyring.ts'
export {
  DEFAULT_JWE_ENCRYPTION,
  isJweAlgorithm,
  isJweEncryption,
  JWE_ALGORITHMS,
  JWE_ENCRYPTIONS,
  REFUSED_JWE_ALGORITHMS,
  type JweAlgorithm,
  type JweEncryption,
} from './jwe/algorithms.ts'
export { decryptAndVerifyJwt } from './jwe/decrypt-and-verify.ts'
export { decryptJwt } from './jwe/decrypt.ts'
export { encryptJwt } from './jwe/encrypt.ts'
export { generateEncryptionKey, type GenerateEncryptionKeyOptions } from './jwe/generate-key.ts'
export {
  createJwtDecrypter,
  createJwtEncrypter,
  isCompactJwe,
  JWT_CONTENT_ENCRYPTION,
  JWT_ENCRYPTION_ALGORITHMS,
  type JwtDecrypter,
  type JwtDecrypterOptions,
  type JwtEncrypter,
  type JwtEncrypterOptions,
  type JwtEncryptionAlgorithm,
} from './jwe/token-encryption.ts'
export {
  DEFAULT_MAX_JWE_BYTES,
  type DecryptJwtOptions,
  type EncryptJwtOptions,
  type JweHeader,
  type JweKeyMaterial,
} from './jwe/types.ts'
