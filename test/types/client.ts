// hallpass/client: events narrow by type, sign-out reasons and error codes are closed unions, and
// the README's React binding compiles against the public surface.
import { createClient, HallpassClientError, memoryStorage, type ClientErrorCode, type ClientEvent, type ClientState, type SignOutReason } from 'hallpass/client'
import { expectType, use, type Equals, type Expect } from './helpers.ts'

export type Types = [
  Expect<Equals<SignOutReason, 'logout' | 'revoked' | 'reuse_detected' | 'expired' | 'invalid' | 'no_session'>>,
  Expect<Equals<ClientState, 'unknown' | 'signed-in' | 'signed-out'>>,
  Expect<Equals<ClientErrorCode, 'ERR_CLIENT_CREDENTIALS' | 'ERR_CLIENT_RATE_LIMITED' | 'ERR_CLIENT_SIGNED_OUT' | 'ERR_CLIENT_UNAVAILABLE' | 'ERR_CLIENT_REQUEST'>>,
  Expect<Equals<ClientEvent['type'], 'signed-in' | 'refreshed' | 'signed-out'>>,
]

export function narrowing(event: ClientEvent, error: unknown): void {
  if (event.type === 'signed-out') expectType<Equals<typeof event.reason, SignOutReason>>()
  else expectType<Equals<typeof event.sessionId, string>>()
  if (error instanceof HallpassClientError) expectType<Equals<typeof error.retryAfterSeconds, number | undefined>>()
}

export async function usage(): Promise<void> {
  const auth = createClient({ issuer: 'https://auth.example.com', mode: 'bearer', storage: memoryStorage() })
  // A store binding's subscribe: the unsubscribe function it returns takes no argument.
  const unsubscribe: () => void = auth.subscribe(() => undefined)
  const token: string = await auth.getAccessToken()
  const response: Response = await auth.fetch('https://api.example.com/orders', { method: 'POST' })
  use(unsubscribe, token, response)
  // @ts-expect-error the mode is cookie or bearer, nothing else
  use(createClient({ issuer: 'https://auth.example.com', mode: 'header' }))
  // @ts-expect-error an issuer is required
  use(createClient({}))
}
