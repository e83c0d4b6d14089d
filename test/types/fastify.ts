// hallpass/fastify: the plugin decorates `request.auth` with the verified token or null (public
// routes, anonymous requests on optional ones), and routes configure it through typed config.
import Fastify, { type FastifyContextConfig, type FastifyRequest } from 'fastify'
import { hallpass, type HallpassAuth, type HallpassPluginOptions, type HallpassRouteConfig, type TokenVerifier } from 'hallpass/fastify'
import type { Verifier } from 'hallpass/verify'
import { expectType, use, type Equals, type Expect } from './helpers.ts'

declare const verifier: Verifier

export type Types = [
  Expect<Equals<FastifyRequest['auth'], HallpassAuth | null>>,
  Expect<Equals<FastifyContextConfig['hallpass'], HallpassRouteConfig | undefined>>,
  Expect<Equals<HallpassRouteConfig, false | { optional?: boolean; scope?: string | readonly string[] }>>,
  Expect<Equals<HallpassPluginOptions['verifier'], TokenVerifier>>,
]

export async function plugin(): Promise<void> {
  const app = Fastify()
  await app.register(hallpass, { verifier, realm: 'orders', scope: 'orders:read' })
  // @ts-expect-error the plugin needs a verifier
  await app.register(hallpass, { realm: 'orders' })
  // @ts-expect-error an unknown plugin option
  await app.register(hallpass, { verifier, realms: 'orders' })

  app.get('/me', (request) => {
    expectType<Equals<typeof request.auth, HallpassAuth | null>>()
    // @ts-expect-error `auth` is null on public routes and anonymous requests: check it first
    use(request.auth.claims)
    if (request.auth === null) return {}
    expectType<Equals<typeof request.auth.claims.sub, string | undefined>>()
    // @ts-expect-error claims are read-only
    request.auth.claims.scope = 'admin'
    return { sub: request.auth.claims.sub }
  })
  app.get('/health', { config: { hallpass: false } }, () => 'ok')
  app.get('/feed', { config: { hallpass: { optional: true } } }, (request) => request.auth?.token ?? 'anonymous')
  app.post('/orders', { config: { hallpass: { scope: ['orders:write'] } } }, () => 'created')
}

// Fastify infers a route's config type from the literal it is given, so a bad `hallpass` entry
// written inline in a route is not a type error (the plugin refuses it at startup, onRoute).
// Typed as FastifyContextConfig, as a shared route config would be, it is checked.
export const publicRoute: FastifyContextConfig = { hallpass: false }
export const optionalRoute: FastifyContextConfig = { hallpass: { optional: true } }
// @ts-expect-error a route turns authentication off with false, never on with true
export const onRoute: FastifyContextConfig = { hallpass: true }
// @ts-expect-error an unknown route option
export const misspelled: FastifyContextConfig = { hallpass: { scopes: 'orders:read' } }
