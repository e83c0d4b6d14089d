// hallpass/http: the framework-neutral pieces (bearer parsing, the one code → HTTP mapping, the
// RFC 6750 failure responses) are typed by code and by outcome.
import type { HallpassErrorCode } from 'hallpass/errors'
import {
  bearerFailure,
  ERROR_DESCRIPTIONS,
  parseBearerHeader,
  resourceErrorFailure,
  toHttpError,
  type HttpError,
  type HttpFailure,
  type OAuthErrorName,
} from 'hallpass/http'
import { expectType, use, type Equals, type Expect } from './helpers.ts'

export type Types = [
  // One fixed description per code, no more, no fewer.
  Expect<Equals<keyof typeof ERROR_DESCRIPTIONS, HallpassErrorCode>>,
  Expect<Equals<ReturnType<typeof toHttpError>, HttpError>>,
  Expect<Equals<ReturnType<typeof resourceErrorFailure>, HttpFailure>>,
  Expect<Equals<HttpFailure['body'], { readonly error: string; readonly error_description: string }>>,
  Expect<
    Equals<OAuthErrorName, 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_grant' | 'invalid_client' | 'server_error' | 'temporarily_unavailable'>
  >,
]

export function failures(header: string | undefined): void {
  const bearer = parseBearerHeader(header)
  if (bearer.kind !== 'token') {
    expectType<Equals<ReturnType<typeof bearerFailure>, HttpFailure>>()
    use(bearerFailure(bearer, 'hallpass'))
    return
  }
  // @ts-expect-error a parsed token is not a failure
  use(bearerFailure(bearer, 'hallpass'))
  // @ts-expect-error the descriptions are fixed
  ERROR_DESCRIPTIONS.ERR_JWT_EXPIRED = 'token eyJ… expired'
}
