// Liveness, readiness (the store answers) and Prometheus metrics.
import type { FastifyInstance } from 'fastify'
import type { ServerContext } from '../context.ts'

/** How long `/readyz` waits for the store's ping before it answers 503. */
const READY_TIMEOUT_MS = 2000

export function registerHealthRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/healthz', async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }))

  app.get('/readyz', async (_request, reply) => {
    let ready = false
    // The drivers the server opens bound each command, but a store built on a caller's client
    // may not: the probe answers within READY_TIMEOUT_MS whatever the ping does.
    let timer: NodeJS.Timeout | undefined
    try {
      ready = await Promise.race([
        ctx.sessions.store.ping(),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS)
        }),
      ])
    } catch {
      ready = false
    } finally {
      clearTimeout(timer)
    }
    return reply.code(ready ? 200 : 503).header('cache-control', 'no-store').send({ status: ready ? 'ready' : 'store_unavailable' })
  })

  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics()),
  )
}
