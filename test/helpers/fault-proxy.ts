// A fault-injecting TCP proxy for outage tests: put it between a client and PostgreSQL or
// Redis and switch what the network does.
// - `pass`: forwards both ways (each chunk delayed by `latencyMs` when set);
// - `drop`: destroys every open connection and resets new ones at once (a crashed server, a
//   refused port);
// - `blackhole`: accepts new connections but never connects them upstream, and discards what
//   open ones send in either direction (a partition: nothing arrives, nothing fails). Bytes are
//   discarded, not held, so a connection that lived through a blackhole is out of step with its
//   server; clients are expected to time out and reconnect.
// And, in any mode, a lost answer (`loseReplyTo`): one request matching a pattern reaches the
// server, which does the work, and the connection is cut before its reply gets back.
import { createServer, connect, type Server, type Socket } from 'node:net'

export type FaultMode = 'pass' | 'drop' | 'blackhole'

export interface FaultProxy {
  readonly port: number
  readonly mode: FaultMode
  setMode(mode: FaultMode): void
  /** Delay of each forwarded chunk, in milliseconds (0: none). */
  latencyMs: number
  /** Destroys every open connection (the mode stays). */
  cutAll(): void
  /**
   * Arms a one-shot lost answer: the next client request whose bytes contain one of `request`
   * is forwarded, then the server's replies on that connection are discarded until one holds
   * `options.until` (default: the first reply), and the connection is cut (both sides). The
   * server did the work and committed it; the client only sees its connection die. Resolves
   * once the cut happened.
   */
  loseReplyTo(request: string | readonly string[], options?: LoseReplyOptions): Promise<void>
  close(): Promise<void>
}

export interface LoseReplyOptions {
  /** Cut at the reply chunk holding these bytes (PostgreSQL: ReadyForQuery, after the commit). */
  readonly until?: Buffer
}

/** PostgreSQL's ReadyForQuery, idle: the server sends it after committing an autocommit statement. */
export const POSTGRES_READY_FOR_QUERY = Buffer.from([0x5a, 0, 0, 0, 5, 0x49])

interface Pair {
  client: Socket
  upstream: Socket | undefined
  /** Set once this connection carried the armed request: its replies are discarded until the cut. */
  losing?: { until: Buffer | undefined; done: () => void }
}

export interface FaultProxyOptions {
  readonly target: { readonly host: string; readonly port: number }
  readonly mode?: FaultMode
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  let mode: FaultMode = options.mode ?? 'pass'
  const pairs = new Set<Pair>()
  let armed: { patterns: Buffer[]; until: Buffer | undefined; done: () => void } | undefined

  // A pattern may straddle two chunks: each match looks at the end of the previous chunk too.
  const matcher = (): ((chunk: Buffer, patterns: readonly Buffer[]) => boolean) => {
    let carry = Buffer.alloc(0)
    return (chunk, patterns) => {
      const window = Buffer.concat([carry, chunk])
      const keep = Math.max(0, ...patterns.map((p) => p.length - 1))
      carry = window.subarray(Math.max(0, window.length - keep))
      return patterns.some((p) => window.includes(p))
    }
  }

  // Chunks leave in order even with latency: each waits for the one before it.
  const pipe = (from: Socket, to: Socket, pair: Pair, direction: 'request' | 'reply'): void => {
    let tail = Promise.resolve()
    const matches = matcher()
    from.on('data', (chunk: Buffer) => {
      if (mode !== 'pass') return // blackhole: discarded
      if (direction === 'request') {
        if (matches(chunk, pair.losing === undefined ? (armed?.patterns ?? []) : []) && armed !== undefined) {
          pair.losing = { until: armed.until, done: armed.done }
          armed = undefined
        }
      } else if (direction === 'reply' && pair.losing !== undefined) {
        const { until, done } = pair.losing
        if (until === undefined || matches(chunk, [until])) {
          destroyPair(pair)
          done()
        }
        return // discarded: this reply never reaches the client
      }
      const delay = proxy.latencyMs
      tail = tail.then(() => new Promise<void>((resolve) => {
        const write = (): void => {
          if (!to.destroyed && mode === 'pass') to.write(chunk)
          resolve()
        }
        if (delay > 0) setTimeout(write, delay)
        else write()
      }))
    })
    from.on('end', () => void tail.then(() => to.end()))
  }

  const destroyPair = (pair: Pair): void => {
    pairs.delete(pair)
    // resetAndDestroy sends RST where the platform allows it, like a crashed peer.
    if (!pair.client.destroyed) pair.client.resetAndDestroy()
    pair.upstream?.destroy()
  }

  const server: Server = createServer((client) => {
    client.on('error', () => undefined)
    if (mode === 'drop') {
      client.resetAndDestroy()
      return
    }
    const pair: Pair = { client, upstream: undefined }
    pairs.add(pair)
    client.on('close', () => destroyPair(pair))
    if (mode === 'blackhole') {
      client.on('data', () => undefined) // read and discard; never connected upstream
      return
    }
    const upstream = connect(options.target)
    pair.upstream = upstream
    upstream.on('error', () => destroyPair(pair))
    upstream.on('close', () => destroyPair(pair))
    pipe(client, upstream, pair, 'request')
    pipe(upstream, client, pair, 'reply')
  })
  server.on('error', () => undefined)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (typeof address !== 'object' || address === null) throw new Error('fault proxy: no address')

  const cutAll = (): void => {
    for (const pair of [...pairs]) destroyPair(pair)
  }

  const proxy: FaultProxy = {
    port: address.port,
    get mode() {
      return mode
    },
    setMode(next) {
      mode = next
      if (next === 'drop') cutAll()
    },
    latencyMs: 0,
    cutAll,
    loseReplyTo(request, lose = {}) {
      if (armed !== undefined) throw new Error('fault proxy: a lost answer is already armed')
      const patterns = (typeof request === 'string' ? [request] : request).map((p) => Buffer.from(p))
      return new Promise<void>((resolve) => {
        armed = { patterns, until: lose.until, done: resolve }
      })
    },
    close: async () => {
      cutAll()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return proxy
}
