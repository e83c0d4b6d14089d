/**
 * @module hallpass/server
 *
 * Prometheus metrics on a registry of the server's own (never the global default, so two
 * servers in one process do not collide).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface ServerMetrics {
  readonly registry: Registry
  readonly logins: Counter<'result'>
  readonly refreshes: Counter<'result'>
  readonly reuseDetections: Counter<'classification'>
  readonly lostAnswers: Counter
  readonly revocations: Counter<'reason'>
  readonly verifyFailures: Counter<'code'>
  readonly rateLimited: Counter<'route'>
  readonly requestDuration: Histogram<'route' | 'method' | 'status'>
  readonly feedSubscribers: Gauge
  readonly feedRefused: Counter<'reason'>
  readonly feedDropped: Counter<'reason'>
  readonly feedStarts: Counter<'mode'>
}

export function createServerMetrics(options: { defaultMetrics?: boolean } = {}): ServerMetrics {
  const registry = new Registry()
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'hallpass_process_' })
  const registers = [registry]
  return {
    registry,
    logins: new Counter({ name: 'hallpass_logins_total', help: 'Login attempts by result', labelNames: ['result'], registers }),
    refreshes: new Counter({ name: 'hallpass_refreshes_total', help: 'Refresh attempts by result', labelNames: ['result'], registers }),
    reuseDetections: new Counter({ name: 'hallpass_refresh_reuse_detections_total', help: 'Refresh token reuse detections by classification', labelNames: ['classification'], registers }),
    lostAnswers: new Counter({
      name: 'hallpass_refresh_answers_lost_total',
      help: 'Refresh answers whose connection closed before they were written out (marked undelivered: the retry gets the same token)',
      registers,
    }),
    revocations: new Counter({ name: 'hallpass_revocations_total', help: 'Sessions revoked, by reason', labelNames: ['reason'], registers }),
    verifyFailures: new Counter({ name: 'hallpass_verify_failures_total', help: 'Rejected credentials by error code', labelNames: ['code'], registers }),
    rateLimited: new Counter({ name: 'hallpass_rate_limited_total', help: 'Requests refused by a rate limit', labelNames: ['route'], registers }),
    requestDuration: new Histogram({
      name: 'hallpass_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    feedSubscribers: new Gauge({ name: 'hallpass_feed_subscribers', help: 'Revocation feed streams open now', registers }),
    feedRefused: new Counter({ name: 'hallpass_feed_refused_total', help: 'Revocation feed subscriptions refused, by reason (total, address, unauthorized)', labelNames: ['reason'], registers }),
    feedDropped: new Counter({ name: 'hallpass_feed_dropped_total', help: 'Revocation feed subscribers dropped for not reading (slow, backlog)', labelNames: ['reason'], registers }),
    feedStarts: new Counter({
      name: 'hallpass_feed_starts_total',
      help: 'Revocation feed streams by how they started: resume (Last-Event-ID), snapshot (new subscriber), or reset_<why> (a cursor that could not be resumed from)',
      labelNames: ['mode'],
      registers,
    }),
  }
}
