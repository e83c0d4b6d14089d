// The client's own errors: small (the client's whole budget is 4 KB), with stable codes that
// docs/errors.md lists next to the server's.

export type ClientErrorCode =
  /** `login`: the username or password is wrong (one answer for both). */
  | 'ERR_CLIENT_CREDENTIALS'
  /** Too many attempts; `retryAfterSeconds` says when to try again. */
  | 'ERR_CLIENT_RATE_LIMITED'
  /** There is no session (never signed in, signed out, or it ended: see the `signed-out` event). */
  | 'ERR_CLIENT_SIGNED_OUT'
  /** The server or the network failed while a token was needed; the session is kept. */
  | 'ERR_CLIENT_UNAVAILABLE'
  /** The server refused a request for another reason: `status`, `error` and `hallpassCode` say which. */
  | 'ERR_CLIENT_REQUEST'

export class HallpassClientError extends Error {
  override readonly name = 'HallpassClientError'
  readonly code: ClientErrorCode
  /** The HTTP status, when the server answered. */
  readonly status: number | undefined
  /** The OAuth `error` of the answer (`invalid_grant`, …). */
  readonly error: string | undefined
  /** The server's `X-Hallpass-Error` code (`ERR_REFRESH_REUSED`, …), when it sent one. */
  readonly hallpassCode: string | undefined
  readonly retryAfterSeconds: number | undefined
  constructor(code: ClientErrorCode, details: { status?: number; error?: string; hallpassCode?: string; retryAfterSeconds?: number } = {}) {
    super(details.error === undefined ? code : `${code} (${details.error})`)
    this.code = code
    this.status = details.status
    this.error = details.error
    this.hallpassCode = details.hallpassCode
    this.retryAfterSeconds = details.retryAfterSeconds
  }
}
