// What every page shares: one client for this origin (cookie mode: the refresh token stays in
// the server's HttpOnly cookie), the sign-in form, JSON calls with the bearer token, and the
// session's own event stream, which signs this tab out within a second of a revocation made
// anywhere else.
import { createClient, HallpassClientError, type HallpassClient } from 'hallpass/client'
import { ENDPOINTS } from 'hallpass/http'
import { h, replace, status } from './dom.ts'

export const auth: HallpassClient = createClient({ issuer: location.origin })

/** Resolves once the client knows whether this browser has a session. */
export function ready(): Promise<void> {
  if (auth.state !== 'unknown') return Promise.resolve()
  return new Promise((resolve) => {
    const stop = auth.subscribe(() => {
      stop()
      resolve()
    })
  })
}

export class ApiError extends Error {
  readonly status: number
  readonly error: string | undefined
  constructor(status: number, error: string | undefined, description: string | undefined) {
    super(description ?? error ?? `HTTP ${status}`)
    this.status = status
    this.error = error
  }
}

/** A JSON call to this server with the access token; throws ApiError on an error answer. */
export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const response = await auth.fetch(path, {
    method: init.method ?? 'GET',
    headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  })
  if (response.status === 204) return undefined as T
  const body = (await response.json().catch(() => ({}))) as { error?: string; error_description?: string }
  if (!response.ok) throw new ApiError(response.status, body.error, body.error_description)
  return body as T
}

/** The sign-in form; `onDone` runs after a successful login. */
export function signInForm(intro: string): HTMLElement {
  const message = status()
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' })
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })
  const submit = h('button', { type: 'submit' }, 'Sign in')
  const form = h('form', { class: 'stack', 'aria-label': 'Sign in' }, h('label', {}, 'Username', username), h('label', {}, 'Password', password), submit, message)
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    submit.disabled = true
    replace(message, 'Signing in…')
    auth
      .login(username.value, password.value)
      .then(() => replace(message))
      .catch((error: unknown) => {
        const text =
          error instanceof HallpassClientError && error.code === 'ERR_CLIENT_CREDENTIALS'
            ? 'Wrong username or password.'
            : error instanceof HallpassClientError && error.code === 'ERR_CLIENT_RATE_LIMITED'
              ? `Too many attempts: try again in ${error.retryAfterSeconds ?? 60} s.`
              : 'The server could not be reached. Try again.'
        replace(message, h('span', { class: 'bad' }, text))
        password.select()
      })
      .finally(() => {
        submit.disabled = false
      })
  })
  return h('section', { 'aria-labelledby': 'sign-in-title' }, h('h1', { id: 'sign-in-title' }, 'Sign in'), h('p', { class: 'muted' }, intro), form)
}

/**
 * Follows GET /auth/events while signed in. On `revoked`, one call with the current token gets
 * a 401; the client then tries a refresh, which the server refuses, and signs every tab out
 * with the reason. The stream is reopened after a network error or a refresh.
 */
export function watchSession(onRevoked: (reason: string) => void = () => undefined): void {
  let running: AbortController | undefined
  const open = async (): Promise<void> => {
    running?.abort()
    if (auth.state !== 'signed-in') return
    const controller = (running = new AbortController())
    try {
      const token = await auth.getAccessToken()
      const response = await fetch(ENDPOINTS.events, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal })
      if (!response.ok || response.body === null) throw new Error(`events: HTTP ${response.status}`)
      for await (const event of readEvents(response.body)) {
        if (event.type !== 'revoked') continue
        onRevoked((JSON.parse(event.data || '{}') as { reason?: string }).reason ?? 'revoked')
        await auth.fetch(ENDPOINTS.me).catch(() => undefined)
        return
      }
    } catch {
      if (controller.signal.aborted) return
    }
    if (controller === running && auth.state === 'signed-in') setTimeout(() => void open(), 2000)
  }
  auth.subscribe((event) => {
    if (event.type === 'signed-out') running?.abort()
    else if (event.type === 'signed-in') void open()
  })
  void open()
}

/**
 * The events of a Server-Sent Events body, read with fetch (EventSource cannot send the bearer
 * header). Only `event:` and single-line `data:` fields: all this server sends.
 */
export async function* readEvents(body: ReadableStream<BufferSource>): AsyncGenerator<{ type: string; data: string }> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buffer += value
    let end: number
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const type = /^event: (.*)$/m.exec(block)?.[1]
      if (type !== undefined) yield { type, data: /^data: (.*)$/m.exec(block)?.[1] ?? '' }
    }
  }
}
