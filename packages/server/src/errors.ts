// Error responses. Token endpoints speak RFC 6749 §5.2 (`{error, error_description}`),
// bearer-protected endpoints add RFC 6750 challenges, everything else gets the same shape.
// Descriptions are fixed strings: no token, stack or internal detail ever leaks.
//
// Routes throw, the one error handler answers: a `HallpassError` in the vocabulary the route
// declares (`config: { errors: 'resource' }` for bearer-protected routes, token endpoints by
// default), an `HttpProblem` as it says, Fastify's own rejections as a 4xx, the rest as a 500.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { isHallpassError } from 'hallpass/errors'
import { ERROR_CODE_HEADER, resourceErrorFailure, toHttpError, type ErrorContext, type HttpFailure, type OAuthErrorName } from 'hallpass/http'

export const REALM = 'hallpass'

/** `Retry-After` of a 503 for a temporary failure (the store's timeouts are about as long). */
export const RETRY_AFTER_SECONDS = 2

declare module 'fastify' {
  interface FastifyContextConfig {
    /** How the route answers a hallpass error: RFC 6750 (`resource`) or RFC 6749 (`token`, the default). */
    errors?: ErrorContext
  }
}

type ProblemName = OAuthErrorName | 'unauthorized' | 'not_found' | 'rate_limited' | 'forbidden' | 'conflict'

/** Thrown inside route handlers to answer with a specific error. */
export class HttpProblem extends Error {
  readonly status: number
  readonly error: ProblemName
  readonly description: string
  readonly headers: Readonly<Record<string, string>>
  constructor(status: number, error: ProblemName, description: string, headers: Readonly<Record<string, string>> = {}) {
    super(description)
    this.status = status
    this.error = error
    this.description = description
    this.headers = headers
  }

  /** A resource server's answer (hallpass/http) as a throwable problem. */
  static of(failure: HttpFailure): HttpProblem {
    return new HttpProblem(failure.status, failure.body.error as ProblemName, failure.body.error_description, failure.headers)
  }
}

export function sendTokenError(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  // RFC 6749 §5.1/5.2: token responses are never cached.
  return reply.code(status).header('cache-control', 'no-store').header('pragma', 'no-cache').send({ error, error_description: description })
}

/** The server's error handler (see the top of this file). */
export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (isHallpassError(error)) {
    // Credential errors are the client's problem (info); the rest is ours (error). The error
    // objects carry codes and fields, never tokens, so they are safe to log.
    if (error.family === 'credential') request.log.info({ code: error.code }, 'credential rejected')
    else request.log.error({ err: error }, 'request failed')
    // Before sending: a header set on a reply already sent is silently dropped.
    reply.header(ERROR_CODE_HEADER, error.code)
    // An outage (the store, the keys, the feed) is temporary: say when to try again, so clients
    // back off for a moment instead of hammering a recovering store or giving up.
    if (toHttpError(error.code, 'token').status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS))
    if (request.routeOptions.config.errors === 'resource') {
      const failure = resourceErrorFailure(error, REALM)
      return sendTokenError(reply.headers(failure.headers), failure.status, failure.body.error, failure.body.error_description)
    }
    const mapped = toHttpError(error.code, 'token')
    return sendTokenError(reply, mapped.status, mapped.error, mapped.description)
  }
  if (error instanceof HttpProblem) return sendTokenError(reply.headers(error.headers), error.status, error.error, error.description)
  // Framework-level rejections (schema, parsing, size) are the client's fault: a 4xx with a
  // stable error name and nothing from the input echoed back.
  const fastifyError = error as Partial<FastifyError>
  if (fastifyError.validation !== undefined) return sendTokenError(reply, 400, 'invalid_request', 'The request body is invalid')
  const status = fastifyError.statusCode ?? 500
  if (status === 413) return sendTokenError(reply, 413, 'invalid_request', 'The request body is too large')
  if (status === 415) return sendTokenError(reply, 415, 'invalid_request', 'Unsupported content type')
  if (status >= 400 && status < 500) return sendTokenError(reply, status, 'invalid_request', 'The request is malformed')
  request.log.error({ err: error }, 'unhandled error')
  return sendTokenError(reply, 500, 'server_error', 'Internal server error')
}
