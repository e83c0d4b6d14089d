/**
 * @module @hallpass/server/cli
 *
 * `hallpass serve` (and `hallpass-server serve`): runs the session server. Zero configuration gives SQLite and keys in
 * `./.hallpass/`, a generated secret and a demo user; production sets `HALLPASS_*` variables
 * or `--config`. SIGTERM/SIGINT stop accepting connections, let in-flight requests finish,
 * then close the store.
 */
import type { FastifyInstance } from 'fastify'
import { CliError, UsageError, type CliCommand, type CommandContext, type ParsedArgs } from 'hallpass/cli'
import type { Runtime } from '../runtime.ts'
import { ENVIRONMENT_VARIABLES, OTHER_ENVIRONMENT_VARIABLES } from '../config.ts'
import { CONFIG_OPTION, loadServerConfig } from './server-config.ts'

const KEY_MAINTENANCE_MS = 60_000
const PURGE_MS = 3_600_000
// Lost refresh answers this instance knows of reach the store within this once it answers again,
// so another instance recognises their retries too (well inside the default 10 s grace window).
const RECONCILE_MS = 2_000

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'Run the session server (zero-config: SQLite in ./.hallpass, http://localhost:8080).',
  usage: '[--config FILE] [--port N] [--host HOST]',
  options: [
    CONFIG_OPTION,
    { name: 'port', type: 'string', value: 'N', help: 'Port to listen on (default 8080, or HALLPASS_PORT).' },
    { name: 'host', type: 'string', value: 'HOST', help: 'Address to bind (default localhost, or HALLPASS_HOST).' },
  ],
  details: environmentHelp(),
  run,
}

/** Every variable `serve` reads, with the config-file field it overrides, for `--help`. */
function environmentHelp(): string {
  const fields = Object.entries(ENVIRONMENT_VARIABLES).map(([name, variable]) => [`${name} (file: ${variable.field})`, variable.help] as const)
  return [
    'Configuration: a JSON file (--config) and HALLPASS_* environment variables, which override it.',
    'Durations are written 30s, 10m, 1h, 7d.',
    '',
    'Environment:',
    ...[...fields, ...Object.entries(OTHER_ENVIRONMENT_VARIABLES)].map(([name, help]) => `  ${name}\n      ${help}`),
  ].join('\n')
}

async function run(args: ParsedArgs, context: CommandContext): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError('serve takes no arguments')
  const env = { ...context.env }
  const port = args.string('port')
  const host = args.string('host')
  if (port !== undefined) env.HALLPASS_PORT = port
  if (host !== undefined) env.HALLPASS_HOST = host
  // Port 0 asks for any free port, but the issuer (in every token) must name the real one: pick
  // it now, before the configuration derives the issuer from it.
  if (env.HALLPASS_PORT === '0') env.HALLPASS_PORT = String(await freePort(env.HALLPASS_HOST ?? 'localhost'))
  const config = await loadServerConfig(args.string('config'), env)
  // Loaded here, not at the top: `hallpass token …` lists this command without loading Fastify.
  const [{ openRuntime, createDemoUserOnce }, { buildServer }, { formatBanner }] = await Promise.all([import('../runtime.ts'), import('../app.ts'), import('../banner.ts')])
  const runtime = await openRuntime(config, { env })
  let app: FastifyInstance
  try {
    app = await buildServer(runtime.context)
    await listen(app, config.host, config.port)
  } catch (error) {
    await runtime.close()
    throw error
  }
  const address = app.server.address()
  const listening = typeof address === 'object' && address !== null ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address)
  const demoPassword = await createDemoUserOnce(runtime)
  // The banner is for people, the logs (JSON on stdout) for machines: the banner, and the demo
  // password in it, go to stderr in one write, never between log lines.
  context.stderr(formatBanner(runtime, listening, demoPassword, app.hasRoute({ method: 'GET', url: '/admin' })))
  return waitForShutdown(app, runtime)
}

function waitForShutdown(app: FastifyInstance, runtime: Runtime): Promise<number> {
  const { sessions } = runtime.context
  const maintenance = setInterval(() => {
    sessions.keys.maintain().catch((error: unknown) => app.log.error({ err: error }, 'key maintenance failed'))
  }, KEY_MAINTENANCE_MS)
  const purge = setInterval(() => {
    sessions.store.purgeExpired(Date.now()).catch((error: unknown) => app.log.error({ err: error }, 'purge failed'))
  }, PURGE_MS)
  // Fails while the store is down, which every request that needs it reports already.
  const reconcile = setInterval(() => {
    sessions.reconcileUndelivered().catch((error: unknown) => app.log.debug({ err: error }, 'lost refresh answers not reconciled yet'))
  }, RECONCILE_MS)
  return new Promise((resolve) => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      app.log.info({ signal }, 'shutting down: finishing in-flight requests')
      clearInterval(maintenance)
      clearInterval(purge)
      clearInterval(reconcile)
      // Open SSE streams would hold close() forever: end them first.
      app.server.closeIdleConnections()
      void (async () => {
        let status = 0
        try {
          await runtime.context.feed.close()
          const closing = app.close()
          setTimeout(() => app.server.closeAllConnections(), 10_000).unref()
          await closing
          await runtime.close()
        } catch (error) {
          app.log.error({ err: error }, 'shutdown failed')
          status = 1
        }
        resolve(status)
      })()
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
}

/** Listens, or says what stands in the way and how to get past it. */
async function listen(app: FastifyInstance, host: string, port: number): Promise<void> {
  try {
    await app.listen({ port, host })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const where = `${host}:${port}`
    if (code === 'EADDRINUSE') throw new CliError(`cannot listen on ${where}: the port is in use (another hallpass?). Stop what holds it, or pick another port with --port N or HALLPASS_PORT (0 picks a free one).`)
    if (code === 'EACCES') throw new CliError(`cannot listen on ${where}: ports below 1024 need privileges. Pick a port of 1024 or more with --port N or HALLPASS_PORT.`)
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') throw new CliError(`cannot listen on ${where}: this machine has no such address. Give one it has with --host or HALLPASS_HOST (localhost, 0.0.0.0, ::).`)
    throw error
  }
}

/** A port that was free a moment ago on `host`. */
async function freePort(host: string): Promise<number> {
  const { createServer } = await import('node:net')
  const probe = createServer()
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject)
    probe.listen(0, host, resolve)
  })
  const address = probe.address()
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return typeof address === 'object' && address !== null ? address.port : 0
}
