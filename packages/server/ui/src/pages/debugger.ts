// `/debugger`: paste a JWT, see its header and claims, and whether it verifies against this
// issuer's JWKS or a pasted key, with the exact reason when it does not. Everything happens in
// this page: the token is never sent anywhere (the Content-Security-Policy lets the page talk
// to this server only, and the only request it makes is for the public JWKS).
import { facts, h, main, replace, status } from '../dom.ts'
import { inspectToken, KeyParseError, parseKey, type Inspection } from '../token-inspector.ts'

const token = h('textarea', { id: 'token', name: 'token', spellcheck: 'false', autocomplete: 'off', placeholder: 'eyJhbGciOi…', 'aria-describedby': 'token-help' })
const key = h('textarea', { id: 'key', name: 'key', spellcheck: 'false', autocomplete: 'off', placeholder: '{"kty":"EC",…} or -----BEGIN PUBLIC KEY----- or a shared secret' })
const useIssuer = h('input', { type: 'radio', name: 'source', value: 'issuer', checked: true })
const usePasted = h('input', { type: 'radio', name: 'source', value: 'pasted' })
const keyField = h('label', { hidden: true }, 'Public key, JWKS or HMAC secret', key)
const verdict = h('div', { role: 'status', 'aria-live': 'polite', id: 'verdict' })
const output = h('div', { class: 'grid' })
const jwksStatus = status()
let jwks: { keys: unknown[] } | undefined

async function loadJwks(): Promise<void> {
  try {
    const response = await fetch('/.well-known/jwks.json')
    jwks = (await response.json()) as { keys: unknown[] }
    replace(jwksStatus, h('span', { class: 'muted' }, `This issuer publishes ${jwks.keys.length} key${jwks.keys.length === 1 ? '' : 's'}.`))
  } catch {
    replace(jwksStatus, h('span', { class: 'bad' }, 'Could not load this issuer’s JWKS.'))
  }
}

async function inspect(): Promise<void> {
  keyField.hidden = !usePasted.checked
  const text = token.value.trim()
  if (text === '') {
    replace(verdict)
    replace(output)
    return
  }
  let result: Inspection
  try {
    const header = text.split('.')[0] ?? ''
    const alg = (() => {
      try {
        return (JSON.parse(atob(header.replace(/-/g, '+').replace(/_/g, '/'))) as { alg?: unknown }).alg
      } catch {
        return undefined
      }
    })()
    const pasted = usePasted.checked && key.value.trim() !== '' ? await parseKey(key.value, typeof alg === 'string' ? alg : undefined) : undefined
    result = await inspectToken(text, { ...(usePasted.checked ? (pasted !== undefined ? { key: pasted } : {}) : jwks !== undefined ? { jwks } : {}), issuer: location.origin })
  } catch (error) {
    replace(verdict, h('p', { class: 'notice bad' }, error instanceof KeyParseError ? error.message : 'The token could not be inspected.'))
    return
  }
  const v = result.verdict
  replace(
    verdict,
    v.ok
      ? h('p', { class: 'notice', 'data-verdict': 'valid', 'data-for': text.slice(-12) }, h('strong', { class: 'ok' }, '✓ Valid. '), `Signed with ${v.alg}${v.kid !== undefined ? ` by key ${v.kid}` : ''} of ${v.keySource === 'issuer' ? 'this issuer' : 'the pasted key'}; every claim checks out.`)
      : h('p', { class: 'notice bad', 'data-verdict': v.code, 'data-for': text.slice(-12) }, h('strong', { class: 'bad' }, `✗ ${v.code.replace(/_/g, ' ')}. `), v.reason),
  )
  replace(
    output,
    h('section', { 'aria-labelledby': 'header-title' }, h('h2', { id: 'header-title' }, 'Header'), h('pre', {}, result.header === undefined ? '—' : JSON.stringify(result.header, null, 2))),
    h(
      'section',
      { 'aria-labelledby': 'claims-title' },
      h('h2', { id: 'claims-title' }, 'Claims'),
      h('pre', {}, result.claims === undefined ? '—' : JSON.stringify(result.claims, null, 2)),
      result.times.length > 0 ? facts(result.times.map((t) => [t.claim, `${t.iso} (${t.relative})`])) : null,
    ),
  )
}

let pending: ReturnType<typeof setTimeout> | undefined
const schedule = (): void => {
  clearTimeout(pending)
  pending = setTimeout(() => void inspect(), 150)
}
for (const element of [token, key]) element.addEventListener('input', schedule)
for (const element of [useIssuer, usePasted]) element.addEventListener('change', schedule)

replace(
  main(),
  h('h1', {}, 'Token debugger'),
  h('p', { class: 'notice', id: 'token-help' }, h('strong', {}, 'Nothing you paste leaves this page. '), 'The token is decoded and checked here, in your browser, with the Web Crypto API; the page fetches only this issuer’s public keys (', h('a', { href: '/.well-known/jwks.json' }, 'JWKS'), ').'),
  h('section', { 'aria-labelledby': 'input-title' },
    h('h2', { id: 'input-title' }, 'Token'),
    h('label', { for: 'token' }, 'JWT (compact form)'),
    token,
    h('fieldset', { class: 'row' }, h('legend', {}, 'Verify against'), h('label', { class: 'row' }, useIssuer, 'this issuer’s JWKS'), h('label', { class: 'row' }, usePasted, 'a key I paste')),
    keyField,
    jwksStatus,
  ),
  verdict,
  output,
)
void loadJwks().then(inspect)
