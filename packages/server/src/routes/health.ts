// Liveness, readiness (the store answers) and Prometheus metrics.
import type { FastifyInstance } from 'fastify'
import type { ServerContext } from '../context.ts'

export function registerHealthRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/healthz', async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }))

  app.get('/readyz', async (_request, reply) => {
    let ready = false
    try {
      ready = await ctx.sessions.store.ping()
    } catch {
      ready = false
    }
    return reply.code(ready ? 200 : 503).header('cache-control', 'no-store').send({ status: ready ? 'ready' : 'store_unavailable' })
  })

  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics()),
  )
}
