// Key and endpoint discovery: the JWKS (RFC 7517) and authorization-server metadata
// (RFC 8414, also served at the OpenID Connect discovery path that most verifiers look up).
import type { FastifyInstance } from 'fastify'
import type { ServerContext } from '../context.ts'

export function registerDiscoveryRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    const now = Date.now()
    // Cache no longer than the configured max-age, and never past the next key change, so a
    // verifier always refetches before a `next` key starts signing (publish-then-use).
    const untilChange = Math.floor((ctx.sessions.keys.nextChangeAt() - now) / 1000)
    const maxAge = Math.max(0, Math.min(ctx.config.jwksMaxAgeSeconds, untilChange))
    return reply.header('cache-control', `public, max-age=${maxAge}`).type('application/jwk-set+json').send(ctx.sessions.keys.publicJwks())
  })

  const metadata = (): Record<string, unknown> => {
    const issuer = ctx.config.issuer
    return {
      issuer,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      token_endpoint: `${issuer}/auth/refresh`,
      grant_types_supported: ['password', 'refresh_token'],
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint: `${issuer}/oauth/revoke`,
      revocation_endpoint_auth_methods_supported: ['client_secret_basic'],
      introspection_endpoint: `${issuer}/oauth/introspect`,
      introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
      response_types_supported: [],
      // JWT access tokens (RFC 9068) are signed with this algorithm.
      access_token_signing_alg_values_supported: [ctx.config.algorithm],
      id_token_signing_alg_values_supported: [ctx.config.algorithm],
      hallpass_login_endpoint: `${issuer}/auth/login`,
      hallpass_logout_endpoint: `${issuer}/auth/logout`,
      hallpass_revocation_feed: `${issuer}/auth/revocations`,
      hallpass_access_token_ttl_seconds: ctx.config.accessTokenTtlSeconds,
    }
  }
  for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
    app.get(path, async (_request, reply) => reply.header('cache-control', 'public, max-age=300').send(metadata()))
  }
}
