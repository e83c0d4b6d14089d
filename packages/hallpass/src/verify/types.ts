/**
 * @module hallpass/verify
 *
 * Types shared by the verifier's parts: the injected I/O and the events it reports.
 */
export type { FetchFunction, VerifierTimers } from './internal/io.ts'

/**
 * What a verifier reports through `onEvent` (for logs and metrics). Events carry ids (`kid`,
 * `sid`) and reasons, never a token. A hook that throws is ignored.
 */
export type VerifierEvent =
  | { readonly type: 'jwks.updated'; readonly keys: number; readonly added: readonly string[]; readonly removed: readonly string[] }
  | { readonly type: 'jwks.fetch_failed'; readonly reason: string }
  | { readonly type: 'jwks.unknown_kid_refetch'; readonly kid: string | undefined }
  | { readonly type: 'feed.connected'; readonly cursor: string | undefined }
  | { readonly type: 'feed.reset'; readonly reason: string }
  | { readonly type: 'feed.ready'; readonly snapshot: boolean; readonly entries: number; readonly cursor: string | undefined }
  | { readonly type: 'feed.disconnected'; readonly reason: string; readonly retryInMs: number }
  | { readonly type: 'feed.cursor_rejected'; readonly cursor: string }
  | { readonly type: 'feed.invalid_event'; readonly reason: string }
  | { readonly type: 'feed.revocation'; readonly sid: string; readonly exp: number; readonly cursor: string | undefined }
  | { readonly type: 'denylist.overflow'; readonly evictedSid: string; readonly exp: number }
  | { readonly type: 'verifier.failing_closed'; readonly staleSeconds: number }
  | { readonly type: 'verifier.recovered'; readonly staleSeconds: number }
  /**
   * Tokens with a good signature are refused because their `aud` or `iss` is not what this
   * verifier expects (reported on the first refusal, then at most once a minute per claim).
   */
  | { readonly type: 'token.claim_mismatch'; readonly claim: 'aud' | 'iss'; readonly expected: readonly string[]; readonly got: readonly string[] }

export type VerifierEventHook = (event: VerifierEvent) => void
