// hallpass/hono: `c.get('auth')` is typed through ContextVariableMap, undefined on an optional
// route without credentials; only the middleware's own value can be set under that name.
import { Hono, type ContextVariableMap, type MiddlewareHandler } from 'hono'
import { hallpass, requireScope, type HallpassAuth } from 'hallpass/hono'
import type { Verifier } from 'hallpass/verify'
import { expectType, use, type Equals, type Expect } from './helpers.ts'

declare const verifier: Verifier

export type Types = [
  Expect<Equals<ContextVariableMap['auth'], HallpassAuth | undefined>>,
  Expect<Equals<ReturnType<typeof hallpass>, MiddlewareHandler>>,
  Expect<Equals<ReturnType<typeof requireScope>, MiddlewareHandler>>,
]

export function routes(): void {
  const app = new Hono()
  app.use('/api/*', hallpass(verifier, { optional: true }))
  app.get('/api/me', (c) => {
    const auth = c.get('auth')
    expectType<Equals<typeof auth, HallpassAuth | undefined>>()
    expectType<Equals<(typeof c.var)['auth'], HallpassAuth | undefined>>()
    // @ts-expect-error undefined without credentials on an optional route: check it first
    use(auth.claims)
    if (auth === undefined) return c.json({ anonymous: true })
    expectType<Equals<typeof auth.claims.sub, string | undefined>>()
    // @ts-expect-error claims are read-only
    auth.claims.sub = 'someone-else'
    // @ts-expect-error `auth` holds a HallpassAuth, nothing else
    c.set('auth', { sub: 'forged' })
    return c.json({ sub: auth.claims.sub })
  })
  app.post('/api/orders', requireScope('orders:write'), (c) => c.json(c.get('auth')?.claims.scope))
  // @ts-expect-error scopes are strings
  use(requireScope(['orders:write']))
  // @ts-expect-error an unknown adapter option
  use(hallpass(verifier, { scopes: 'orders:read' }))
}
