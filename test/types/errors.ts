// hallpass/errors: `code` is a string-literal union, `AnyHallpassError` pairs each class with its
// code so that comparing `err.code` narrows, and a code that does not exist does not compile.
import {
  ConfigInvalid,
  errorClasses,
  HallpassError,
  isHallpassError,
  JwtClaimInvalid,
  JwtExpired,
  RefreshTokenReused,
  RevocationFeedStale,
  ScopeInsufficient,
  SessionExpired,
  StoreUnavailable,
  type AnyHallpassError,
  type HallpassErrorCode,
  type HallpassErrorFamily,
} from 'hallpass/errors'
import type * as main from 'hallpass'
import { expectType, use, type Equals, type Expect, type HasKey } from './helpers.ts'

// The codes are the public contract (a code never changes meaning and a retired one is never
// reused): renaming or dropping one fails here. A new code is added here and to docs/errors.md.
export type CodeUnion = Expect<
  Equals<
    HallpassErrorCode,
    | 'ERR_JWT_MALFORMED'
    | 'ERR_JWT_TOO_LARGE'
    | 'ERR_JWS_ALG_NOT_ALLOWED'
    | 'ERR_JWS_HEADER_UNSUPPORTED'
    | 'ERR_JWKS_NO_MATCHING_KEY'
    | 'ERR_JWS_SIGNATURE_INVALID'
    | 'ERR_JWT_EXPIRED'
    | 'ERR_JWT_NOT_YET_VALID'
    | 'ERR_JWT_CLAIM_INVALID'
    | 'ERR_JWE_INVALID'
    | 'ERR_JWE_DECRYPTION_FAILED'
    | 'ERR_KEY_INVALID'
    | 'ERR_CONFIG_INVALID'
    | 'ERR_KEYRING_NO_SIGNING_KEY'
    | 'ERR_REFRESH_INVALID'
    | 'ERR_REFRESH_REUSED'
    | 'ERR_SESSION_REVOKED'
    | 'ERR_SESSION_EXPIRED'
    | 'ERR_SESSION_INPUT_INVALID'
    | 'ERR_STORE_UNAVAILABLE'
    | 'ERR_SECRET_INVALID'
    | 'ERR_SCOPE_INSUFFICIENT'
    | 'ERR_JWKS_UNAVAILABLE'
    | 'ERR_REVOCATION_FEED_STALE'
  >
>

// The family travels in the type too: what a 503 handler can receive, and the config errors.
type CodesOf<F extends HallpassErrorFamily> = Extract<AnyHallpassError, { family: F }>['code']
export type Families = [
  Expect<Equals<CodesOf<'infrastructure'>, 'ERR_STORE_UNAVAILABLE' | 'ERR_JWKS_UNAVAILABLE' | 'ERR_REVOCATION_FEED_STALE'>>,
  Expect<Equals<CodesOf<'config'>, 'ERR_KEY_INVALID' | 'ERR_CONFIG_INVALID' | 'ERR_KEYRING_NO_SIGNING_KEY' | 'ERR_SECRET_INVALID'>>,
]

// `code` is both a static and an instance field, with the literal type.
export type StaticCodes = [
  Expect<Equals<typeof RefreshTokenReused.code, 'ERR_REFRESH_REUSED'>>,
  Expect<Equals<RefreshTokenReused['code'], 'ERR_REFRESH_REUSED'>>,
  Expect<Equals<(typeof errorClasses)[number]['code'], HallpassErrorCode>>,
  Expect<Equals<AnyHallpassError['code'], HallpassErrorCode>>,
]

// The main entry re-exports the error model.
export type MainEntry = [
  Expect<Equals<main.HallpassErrorCode, HallpassErrorCode>>,
  Expect<Equals<main.AnyHallpassError, AnyHallpassError>>,
  Expect<HasKey<typeof main, 'isHallpassError'>>,
]

/** `isHallpassError(err)` then `err.code === …` narrows to the class and its fields. */
export function narrowsByCode(err: unknown): void {
  if (!isHallpassError(err)) return
  expectType<Equals<typeof err, AnyHallpassError>>()
  if (err.code === 'ERR_REFRESH_REUSED') {
    expectType<Equals<typeof err, RefreshTokenReused>>()
    expectType<Equals<typeof err.classification, 'previous_after_window' | 'older_generation'>>()
    expectType<Equals<typeof err.sessionId, string>>()
    return
  }
  if (err.code === 'ERR_JWT_EXPIRED') {
    expectType<Equals<typeof err, JwtExpired>>()
    expectType<Equals<typeof err.claim, 'exp' | 'iat'>>()
    return
  }
  if (err.code === 'ERR_JWT_CLAIM_INVALID') {
    expectType<Equals<typeof err.reason, 'missing' | 'type' | 'value'>>()
    return
  }
  if (err.code === 'ERR_SCOPE_INSUFFICIENT') {
    expectType<Equals<typeof err.required, readonly string[]>>()
    return
  }
  // @ts-expect-error a code that does not exist: the comparison has no overlap with the union
  if (err.code === 'ERR_TOKEN_EXPIRED') return
  // @ts-expect-error without narrowing, a field of one class is not on the union
  use(err.classification)
}

/** `switch (err.code)` narrows each case, and the families stay apart. */
export function narrowsInSwitch(err: AnyHallpassError): number {
  switch (err.code) {
    case 'ERR_SESSION_EXPIRED':
      expectType<Equals<typeof err, SessionExpired>>()
      expectType<Equals<typeof err.deadline, 'idle' | 'absolute'>>()
      return 401
    case 'ERR_REVOCATION_FEED_STALE':
      expectType<Equals<typeof err, RevocationFeedStale>>()
      expectType<Equals<typeof err.family, 'infrastructure'>>()
      expectType<Equals<typeof err.staleSeconds, number>>()
      return 503
    case 'ERR_CONFIG_INVALID':
      expectType<Equals<typeof err, ConfigInvalid>>()
      expectType<Equals<typeof err.path, string>>()
      return 500
    // @ts-expect-error a case label outside the union does not compile
    case 'ERR_NOT_A_CODE':
      return 0
    default:
      return 400
  }
}

/** The code argument of `isHallpassError` narrows too, and is checked against the union. */
export function narrowsByGuardCode(err: unknown): void {
  if (isHallpassError(err, 'ERR_STORE_UNAVAILABLE')) {
    expectType<Equals<typeof err, StoreUnavailable>>()
    expectType<Equals<typeof err.family, 'infrastructure'>>()
  }
  if (isHallpassError(err, 'ERR_JWT_CLAIM_INVALID')) expectType<Equals<typeof err, JwtClaimInvalid>>()
  // @ts-expect-error a code that does not exist
  isHallpassError(err, 'ERR_BOGUS')
  // @ts-expect-error codes are exact strings, not patterns
  isHallpassError(err, 'err_jwt_expired')
}

/** `instanceof` the base class keeps the full code union but is not the narrowing union. */
export function baseClass(err: unknown): void {
  if (!(err instanceof HallpassError)) return
  expectType<Equals<typeof err.code, HallpassErrorCode>>()
  expectType<Equals<typeof err.family, HallpassErrorFamily>>()
  // @ts-expect-error the abstract base has no code-specific fields
  use(err.reason)
  // @ts-expect-error `code` is read-only
  err.code = 'ERR_JWT_EXPIRED'
}

/** Fields are read-only facts, and constructors take the fields, never free text. */
export function fields(): void {
  const reused = new RefreshTokenReused('sid', 'older_generation')
  // @ts-expect-error the classification is one of two literals
  use(new RefreshTokenReused('sid', 'sometime'))
  // @ts-expect-error fields are read-only
  reused.sessionId = 'other'
  const scope = new ScopeInsufficient(['orders:read'])
  // @ts-expect-error the required scopes are a read-only list
  scope.required.push('x')
  // @ts-expect-error an expired token is about exp or iat only
  use(new JwtExpired('nbf'))
}
