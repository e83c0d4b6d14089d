/**
 * @module hallpass/client
 *
 * The client half of `hallpass serve`, for browsers (cookie mode) and for anything with `fetch`
 * (bearer mode: Node, Deno, Bun, React Native). No dependency and no Node built-in.
 *
 * @example
 * import { createClient } from 'hallpass/client'
 * const auth = createClient({ issuer: 'https://auth.example.com' })
 * auth.subscribe((event) => console.log(event.type))
 * await auth.login('alice', password)
 * const orders = await auth.fetch('https://api.example.com/orders')
 */
export { createClient, type ClientEvent, type ClientOptions, type ClientState, type HallpassClient, type SessionSummary, type SignOutReason } from './client.ts'
export { HallpassClientError, type ClientErrorCode } from './errors.ts'
export { memoryStorage, type RefreshTokenStorage } from './storage.ts'
