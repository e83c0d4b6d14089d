// The tabs of one origin acting as one client: a refresh runs in one tab at a time (Web
// Locks), its result reaches the others (BroadcastChannel) so they do not refresh at all, a
// sign-out in one tab signs them all out, and a tab that opens asks the others for their token
// before it refreshes. Without Web Locks the tabs still share tokens; two that refresh at once
// then both reach the server, whose grace window gives them the same successor.

/** An access token as tabs share it: its lifetime is relative, so no two clocks need to agree. */
export interface SharedToken {
  readonly token: string
  readonly sid: string
  /** Milliseconds it has left when the message is sent. */
  readonly ttl: number
}

export type TabMessage =
  | { readonly t: 'token'; readonly from: string; readonly token: SharedToken }
  | { readonly t: 'out'; readonly from: string; readonly reason: string }
  | { readonly t: 'ask'; readonly from: string; readonly n: number }
  | { readonly t: 'answer'; readonly from: string; readonly to: string; readonly n: number; readonly token: SharedToken | undefined }
  | { readonly t: 'bye'; readonly from: string }

export interface TabHandlers {
  /** Another tab has a new token, or signed out. */
  onToken(token: SharedToken): void
  onSignOut(reason: string): void
  /** This tab's token, for a tab that asks (undefined when it has none worth sharing). */
  current(): SharedToken | undefined
}

export interface Tabs {
  /** Runs `work` while no other tab runs work under the same name (where Web Locks exist). */
  exclusive<T>(work: () => Promise<T>): Promise<T>
  share(token: SharedToken): void
  signOut(reason: string): void
  /**
   * The first token another tab answers with. `known`: ask the tabs heard from so far, and stop
   * when they all answered (at once when there are none); otherwise (a tab that just opened and
   * knows no one yet) wait `waitMs` for a token. Either way, undefined after `waitMs`.
   */
  ask(waitMs: number, known: boolean): Promise<SharedToken | undefined>
  close(): void
}

interface Channel {
  postMessage(message: unknown): void
  close(): void
  onmessage: ((event: { data: unknown }) => void) | null
}

interface Locks {
  request<T>(name: string, work: () => Promise<T>): Promise<T>
}

const browser = globalThis as unknown as {
  BroadcastChannel?: new (name: string) => Channel
  navigator?: { locks?: Locks }
  addEventListener?: (type: string, listener: () => void) => void
}

function isToken(value: unknown): value is SharedToken {
  const token = value as SharedToken | undefined
  return typeof token === 'object' && token !== null && typeof token.token === 'string' && typeof token.sid === 'string' && typeof token.ttl === 'number'
}

/** Tabs under `name`, or undefined where there is no BroadcastChannel (React Native, older runtimes). */
export function openTabs(name: string, handlers: TabHandlers): Tabs | undefined {
  const Broadcast = browser.BroadcastChannel
  if (Broadcast === undefined) return undefined
  const channel = new Broadcast(name)
  const id = Math.random().toString(36).slice(2)
  const locks = browser.navigator?.locks
  // Tabs heard from: how many answers an ask waits for.
  const peers = new Set<string>()
  const waiting = new Map<number, (message: TabMessage & { t: 'answer' }) => void>()
  let asks = 0

  const post = (message: TabMessage): void => channel.postMessage(message)

  channel.onmessage = ({ data }) => {
    const message = data as TabMessage
    if (typeof message !== 'object' || message === null || typeof message.from !== 'string') return
    if (message.t === 'bye') {
      peers.delete(message.from)
      return
    }
    peers.add(message.from)
    if (message.t === 'token' && isToken(message.token)) handlers.onToken(message.token)
    else if (message.t === 'out' && typeof message.reason === 'string') handlers.onSignOut(message.reason)
    else if (message.t === 'ask') post({ t: 'answer', from: id, to: message.from, n: message.n, token: handlers.current() })
    // Answers reach every tab: only this tab's own asks count them.
    else if (message.t === 'answer' && message.to === id) waiting.get(message.n)?.(message)
  }
  browser.addEventListener?.('pagehide', () => post({ t: 'bye', from: id }))

  return {
    exclusive: (work) => (locks === undefined ? work() : locks.request(name, work)),
    share: (token) => post({ t: 'token', from: id, token }),
    signOut: (reason) => post({ t: 'out', from: id, reason }),
    ask(waitMs, known) {
      if (known && peers.size === 0) return Promise.resolve(undefined)
      const n = ++asks
      const expected = new Set(peers)
      return new Promise((resolve) => {
        const done = (token: SharedToken | undefined): void => {
          clearTimeout(timer)
          waiting.delete(n)
          resolve(token)
        }
        // A tab that does not answer in time (frozen, closed without a word) is forgotten.
        const timer = setTimeout(() => {
          for (const peer of expected) peers.delete(peer)
          done(undefined)
        }, waitMs)
        waiting.set(n, (answer) => {
          expected.delete(answer.from)
          if (isToken(answer.token)) done(answer.token)
          else if (known && expected.size === 0) done(undefined)
        })
        post({ t: 'ask', from: id, n })
      })
    },
    close() {
      post({ t: 'bye', from: id })
      channel.close()
    },
  }
}
