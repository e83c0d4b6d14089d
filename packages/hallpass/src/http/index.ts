/**
 * @module hallpass
 *
 * Framework-neutral HTTP pieces shared by the server and every middleware.
 */
export { parseBearerHeader, type BearerResult } from './bearer.ts'
export { buildBearerChallenge, quoteHeaderValue, type ChallengeOptions } from './challenge.ts'
export { ERROR_DESCRIPTIONS, toHttpError, type ErrorContext, type HttpError, type OAuthErrorName } from './oauth-errors.ts'
export { bearerFailure, resourceErrorFailure, type HttpFailure } from './resource-failure.ts'
export { ADMIN_ENDPOINTS, BROWSER_HEADER, ENDPOINTS, ERROR_CODE_HEADER, EXPOSED_HEADERS } from '../protocol/wire.ts'
