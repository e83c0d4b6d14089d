// A fault-injecting TCP proxy for outage tests: put it between a client and PostgreSQL or
// Redis and switch what the network does.
// - `pass`: forwards both ways (each chunk delayed by `latencyMs` when set);
// - `drop`: destroys every open connection and resets new ones at once (a crashed server, a
//   refused port);
// - `blackhole`: accepts new connections but never connects them upstream, and discards what
//   open ones send in either direction (a partition: nothing arrives, nothing fails). Bytes are
//   discarded, not held, so a connection that lived through a blackhole is out of step with its
//   server; clients are expected to time out and reconnect.
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
  close(): Promise<void>
}

export interface FaultProxyOptions {
  readonly target: { readonly host: string; readonly port: number }
  readonly mode?: FaultMode
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  let mode: FaultMode = options.mode ?? 'pass'
  const pairs = new Set<{ client: Socket; upstream: Socket | undefined }>()

  // Chunks leave in order even with latency: each waits for the one before it.
  const pipe = (from: Socket, to: Socket): void => {
    let tail = Promise.resolve()
    from.on('data', (chunk: Buffer) => {
      if (mode !== 'pass') return // blackhole: discarded
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

  const destroyPair = (pair: { client: Socket; upstream: Socket | undefined }): void => {
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
    const pair: { client: Socket; upstream: Socket | undefined } = { client, upstream: undefined }
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
    pipe(client, upstream)
    pipe(upstream, client)
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
    close: async () => {
      cutAll()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return proxy
}
