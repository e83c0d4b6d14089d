// A free TCP port, for servers whose URL (an issuer, an allowed origin) must be known before
// they listen.
import { createServer, type AddressInfo } from 'node:net'

/** A port on `host` that was free a moment ago. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject)
    probe.listen(0, host, resolve)
  })
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}
