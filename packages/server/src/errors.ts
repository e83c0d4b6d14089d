// Error responses. Token endpoints speak RFC 6749 §5.2 (`{error, error_description}`),
// bearer-protected endpoints add RFC 6750 challenges, everything else gets an RFC 7807-style
// problem. Descriptions are fixed strings: no token, stack or internal detail ever leaks.
import type { FastifyReply } from 'fastify'
import { isHallpassError, type HallpassErrorCode } from 'hallpass/errors'
import { buildBearerChallenge, toHttpError, type ErrorContext, type OAuthErrorName } from 'hallpass/http'

export const REALM = 'hallpass'

/** Thrown inside route handlers to answer with a specific OAuth error. */
export class HttpProblem extends Error {
  readonly status: number
  readonly error: OAuthErrorName | 'not_found' | 'rate_limited' | 'forbidden' | 'unsupported_media_type' | 'payload_too_large'
  readonly description: string
  readonly retryAfterSeconds: number | undefined
  constructor(status: number, error: HttpProblem['error'], description: string, retryAfterSeconds?: number) {
    super(description)
    this.status = status
    this.error = error
    this.description = description
    this.retryAfterSeconds = retryAfterSeconds
  }
}

export function sendTokenError(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  // RFC 6749 §5.1/5.2: token responses are never cached.
  return reply.code(status).header('cache-control', 'no-store').header('pragma', 'no-cache').send({ error, error_description: description })
}

/** Answers an error thrown by hallpass in the vocabulary of `context`. */
export function sendHallpassError(reply: FastifyReply, code: HallpassErrorCode, context: ErrorContext): FastifyReply {
  const mapped = toHttpError(code, context)
  if (context === 'resource' && mapped.status === 401) {
    reply.header('www-authenticate', buildBearerChallenge({ realm: REALM, error: mapped.error, description: mapped.description }))
  }
  // Before sending: a header set on a reply already sent is silently dropped.
  reply.header('x-hallpass-error', code)
  return sendTokenError(reply, mapped.status, mapped.error, mapped.description)
}

export function sendUnknownError(reply: FastifyReply, error: unknown, context: ErrorContext): FastifyReply {
  if (isHallpassError(error)) {
    // Credential errors are the client's problem (info); the rest is ours (error). The error
    // objects carry codes and fields, never tokens, so they are safe to log.
    if (error.family === 'credential') reply.log.info({ code: error.code }, 'credential rejected')
    else reply.log.error({ err: error }, 'request failed')
    return sendHallpassError(reply, error.code, context)
  }
  if (error instanceof HttpProblem) {
    if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds))
    return sendTokenError(reply, error.status, error.error, error.description)
  }
  reply.log.error({ err: error }, 'unexpected error')
  return sendTokenError(reply, 500, 'server_error', 'Internal server error')
}
