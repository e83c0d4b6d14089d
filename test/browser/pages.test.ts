// The pages of `hallpass serve` in real headless Chromium: sign-in and "your devices" at /, the
// admin console at /admin, the token debugger at /debugger. Each test looks at what a person
// sees, under the pages' own Content-Security-Policy; axe-core checks every page; screenshots
// go to test-output/screenshots (ignored by git) for a reviewer to look at.
import assert from 'node:assert/strict'
import { generateKeyPairSync, sign } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { checkChromium, launchChromium, startHallpass, type Hallpass } from './harness.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SCREENSHOTS = join(ROOT, 'test-output', 'screenshots')
const AXE = join(ROOT, 'node_modules', 'axe-core', 'axe.min.js')
const ADMIN = { username: 'root', password: 'root password for the pages test' }
const skip = checkChromium()

const b64url = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

describe('the pages of hallpass serve', { skip }, () => {
  let browser: Browser
  let server: Hallpass
  const contexts: BrowserContext[] = []
  /** Content-Security-Policy and Trusted Types violations, and page errors: there must be none. */
  const violations: string[] = []

  before(async () => {
    // The pages as `npm run build` makes them (esbuild: well under a second).
    const built = spawnSync(process.execPath, [join(ROOT, 'packages/server/scripts/build-ui.mjs')], { encoding: 'utf8' })
    assert.equal(built.status, 0, built.stderr)
    mkdirSync(SCREENSHOTS, { recursive: true })
    browser = await launchChromium()
    server = await startHallpass()
    await server.cli(['users', 'add', '--admin', ADMIN.username], `${ADMIN.password}\n`)
  })
  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined)
    await browser?.close()
    await server?.close()
  })

  async function newContext(options: Parameters<Browser['newContext']>[0] = {}): Promise<BrowserContext> {
    const context = await browser.newContext(options)
    contexts.push(context)
    return context
  }

  async function open(context: BrowserContext, path: string): Promise<Page> {
    const page = await context.newPage()
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content.Security.Policy|TrustedHTML|TrustedScript|Trusted Type/i.test(message.text())) violations.push(`${path}: ${message.text()}`)
    })
    page.on('pageerror', (error) => violations.push(`${path}: ${error.message}`))
    await page.goto(server.origin + path)
    return page
  }

  async function signIn(page: Page, username: string, password: string): Promise<void> {
    await page.getByLabel('Username').fill(username)
    await page.getByLabel('Password').fill(password)
    await page.getByRole('button', { name: 'Sign in' }).click()
  }

  const deviceRows = (page: Page) => page.locator('#devices-title + div tbody tr')
  const shoot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })

  test('sign in as the demo user: the device list shows one session, marked current', async (t) => {
    const context = await newContext()
    const page = await open(context, '/')
    await page.getByRole('form', { name: 'Sign in' }).waitFor()
    t.diagnostic(`/ interactive after ${Math.round(await page.evaluate(() => performance.now()))} ms`)
    await shoot(page, 'sign-in')
    await signIn(page, 'demo', server.demoPassword)
    await page.getByRole('heading', { name: 'Signed in as demo' }).waitFor()
    await deviceRows(page).first().waitFor()
    assert.equal(await deviceRows(page).count(), 1)
    assert.match(await deviceRows(page).first().innerText(), /this device/)
    assert.match(await deviceRows(page).first().innerText(), /Chrom/)
    // The token panel: algorithm, kid, a countdown, a protected call.
    assert.match(await page.locator('#token-title + *').locator('..').innerText(), /ES256/)
    await page.getByRole('button', { name: 'Call a protected API' }).click()
    await page.getByText(/GET \/auth\/me → 200/).waitFor()
    await shoot(page, 'your-session')
  })

  test('a second browser signs in; the first lists two and revokes it: the second is signed out within 1 s', async (t) => {
    const [first, second] = [await newContext(), await newContext()]
    const a = await open(first, '/')
    await signIn(a, 'demo', server.demoPassword)
    const b = await open(second, '/')
    await signIn(b, 'demo', server.demoPassword)
    await b.getByRole('heading', { name: 'Signed in as demo' }).waitFor()
    await a.reload()
    await a.getByRole('heading', { name: 'Signed in as demo' }).waitFor()
    // Sessions of the earlier test are still live: count this browser's and the other one.
    await deviceRows(a).first().waitFor()
    const rows = await deviceRows(a).count()
    assert.ok(rows >= 2, `${rows} sessions listed`)
    const otherId = await b.evaluate(async () => {
      const response = await fetch('/auth/refresh', { method: 'POST', headers: { 'x-hallpass-client': 'browser' } })
      return ((await response.json()) as { session_id: string }).session_id
    })
    await b.reload()
    await b.getByRole('heading', { name: 'Signed in as demo' }).waitFor()
    await a.reload()
    const revoke = a.getByRole('button', { name: new RegExp(`^Sign out .*\\(${otherId.slice(0, 6)}\\)$`) })
    await revoke.waitFor()
    await shoot(a, 'your-devices')
    const started = Date.now()
    await revoke.click()
    await b.getByRole('form', { name: 'Sign in' }).waitFor({ timeout: 1000 })
    const elapsed = Date.now() - started
    t.diagnostic(`revoked from the first browser → sign-in form in the second: ${elapsed} ms`)
    assert.ok(elapsed < 1000, `signed out after ${elapsed} ms`)
    assert.match(await b.getByRole('alert').innerText(), /revoked/)
    await shoot(b, 'signed-out-elsewhere')
  })

  test('an admin rotates the key: the states change, and a token of the new key verifies in the debugger', async () => {
    const context = await newContext()
    const page = await open(context, '/admin')
    await signIn(page, ADMIN.username, ADMIN.password)
    const states = page.locator('#keys [data-state]')
    await states.first().waitFor()
    assert.deepEqual(await states.allInnerTexts(), ['active'])
    const oldKid = await page.locator('#keys [data-kid]').first().innerText()

    await page.getByRole('button', { name: 'Rotate and sign with it at once' }).click()
    await page.locator('#keys [data-state]').nth(1).waitFor()
    assert.deepEqual(await states.allInnerTexts(), ['retired', 'active'])
    const newKid = await page.locator('#keys [data-kid]').nth(1).innerText()
    assert.notEqual(newKid, oldKid)
    await page.getByRole('button', { name: 'Rotate now (publish first)' }).click()
    await page.locator('#keys [data-state]').nth(2).waitFor()
    assert.deepEqual(await states.allInnerTexts(), ['retired', 'active', 'next'])
    await page.locator('#overview dl').waitFor()
    await page.locator('#audit tbody tr').first().waitFor()
    await shoot(page, 'admin')

    // A login now gets a token of the new key; the debugger checks it against the JWKS.
    const login = await fetch(`${server.origin}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'demo', password: server.demoPassword }) })
    const { access_token: token } = (await login.json()) as { access_token: string }
    const debug = await open(context, '/debugger')
    await debug.getByText(/This issuer publishes 3 keys/).waitFor()
    await debug.getByLabel('JWT (compact form)').fill(token)
    await debug.locator('[data-verdict="valid"]').waitFor()
    assert.match(await debug.locator('#verdict').innerText(), new RegExp(`by key ${newKid}`))
    await shoot(debug, 'debugger-valid')
  })

  test('the admin console: users added, disabled and reset; sessions revoked; a non-admin is refused', async () => {
    const context = await newContext()
    const page = await open(context, '/admin')
    await signIn(page, ADMIN.username, ADMIN.password)
    await page.getByLabel('New user').fill('carol')
    await page.getByRole('button', { name: 'Add', exact: true }).click()
    const added = await page.locator('#users [role="status"] code').innerText()
    assert.ok(added.length >= 16, 'a generated password is shown once')
    // carol signs in elsewhere, then is disabled: her session ends, her login is refused.
    const carol = await open(await newContext(), '/')
    await signIn(carol, 'carol', added)
    await carol.getByRole('heading', { name: 'Signed in as carol' }).waitFor()
    await page.getByRole('button', { name: 'Disable carol' }).click()
    await page.getByText(/carol is disabled; 1 session\(s\) revoked/).waitFor()
    await carol.getByRole('form', { name: 'Sign in' }).waitFor({ timeout: 2000 })
    // The console's live feed showed the revocation as it happened.
    assert.match(await page.locator('#feed li').first().innerText(), /revoked \(user_disabled\)/)
    await signIn(carol, 'carol', added)
    await carol.getByText('Wrong username or password.').waitFor()
    // A user without the role meets a clear refusal, not the console.
    const demo = await open(await newContext(), '/admin')
    await signIn(demo, 'demo', server.demoPassword)
    await demo.getByText('demo does not have the admin role.').waitFor()
  })

  test('the debugger explains an expired token, a foreign signature and alg none, sending nothing', async () => {
    const context = await newContext()
    const login = await fetch(`${server.origin}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'demo', password: server.demoPassword }) })
    const { access_token: token } = (await login.json()) as { access_token: string }
    const [header, payload] = token.split('.') as [string, string]
    const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string }
    // Another key, claiming to be this issuer's kid.
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const forgedInput = `${b64url({ alg: 'ES256', kid, typ: 'at+jwt' })}.${payload}`
    const forged = `${forgedInput}.${sign('sha256', Buffer.from(forgedInput), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
    const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${payload}.`

    const page = await open(context, '/debugger')
    const sent: string[] = []
    page.on('request', (request) => sent.push(`${request.method()} ${request.url()} ${request.postData() ?? ''}`))
    await page.getByText(/This issuer publishes/).waitFor()
    const verdictFor = async (text: string): Promise<{ code: string; text: string }> => {
      await page.getByLabel('JWT (compact form)').fill(text)
      // The verdict about this token (the page keeps the previous one until it has checked).
      const verdict = page.locator(`[data-verdict][data-for="${text.slice(-12)}"]`)
      await verdict.waitFor()
      return { code: (await verdict.getAttribute('data-verdict'))!, text: await verdict.innerText() }
    }
    assert.equal((await verdictFor(forged)).code, 'bad_signature')
    await shoot(page, 'debugger-foreign-signature')
    const none = await verdictFor(unsigned)
    assert.equal(none.code, 'unsigned')
    assert.match(none.text, /none/)
    await shoot(page, 'debugger-alg-none')
    // An hour later, in this page only: the same token has expired.
    await context.clock.install({ time: Date.now() + 3_600_000 })
    await page.reload()
    await page.getByText(/This issuer publishes/).waitFor()
    const expired = await verdictFor(token)
    assert.equal(expired.code, 'expired')
    assert.match(expired.text, /expired/)
    await shoot(page, 'debugger-expired')
    for (const request of sent) assert.ok(!request.includes(payload), `the token left the page: ${request}`)
  })

  test('keyboard only, 360 px wide: sign in and reach every control', async () => {
    const context = await newContext({ viewport: { width: 360, height: 740 } })
    const page = await open(context, '/')
    await page.getByRole('form', { name: 'Sign in' }).waitFor()
    await page.getByLabel('Username').focus()
    await page.keyboard.type('demo')
    await page.keyboard.press('Tab')
    await page.keyboard.type(server.demoPassword)
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'Signed in as demo' }).waitFor()
    await deviceRows(page).first().waitFor()
    for (const path of ['/', '/admin', '/debugger']) {
      if (path !== '/') await page.goto(server.origin + path)
      await page.locator('main h1').first().waitFor()
      const overflow = await page.evaluate(() => {
        const root = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement
        return root.scrollWidth - root.clientWidth
      })
      assert.ok(overflow <= 0, `${path} scrolls sideways by ${overflow} px at 360 px`)
      // Tab reaches every control of the page, in order, and focus stays visible on each.
      const controls = await page.evaluate(() => {
        const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<{ hidden?: boolean; closest(s: string): unknown; getClientRects(): ArrayLike<unknown> }> } }).document
        return Array.from(doc.querySelectorAll('a[href], button:not([disabled]), input:not([type="hidden"]), select, textarea, summary')).filter((e) => e.closest('[hidden]') === null && e.getClientRects().length > 0).length
      })
      const reached = new Set<string>()
      await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { blur(): void } | null } }).document.activeElement?.blur())
      for (let i = 0; i < controls + 2; i++) {
        await page.keyboard.press('Tab')
        const focused = await page.evaluate(() => {
          const doc = (globalThis as unknown as { document: { activeElement: { outerHTML: string } | null } }).document
          return doc.activeElement?.outerHTML.slice(0, 120) ?? ''
        })
        if (!focused.startsWith('<body')) reached.add(focused)
      }
      assert.ok(reached.size >= controls, `${path}: Tab reached ${reached.size} of ${controls} controls`)
      await shoot(page, `narrow${path === '/' ? '-session' : path.replace('/', '-')}`)
    }
  })

  test('axe-core: no serious or critical violation on any page', async () => {
    // axe is injected as a script, which the pages' own policy rightly forbids: this context
    // bypasses CSP for the check only.
    const context = await newContext({ bypassCSP: true })
    const results: string[] = []
    const check = async (page: Page, name: string): Promise<void> => {
      await page.addScriptTag({ path: AXE })
      const found = await page.evaluate(async () => {
        const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: Array<{ id: string; impact: string; nodes: unknown[] }> }> } }).axe
        const result = await axe.run((globalThis as unknown as { document: unknown }).document, { resultTypes: ['violations'] })
        return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }))
      })
      const serious = found.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      results.push(`${name}: ${found.length === 0 ? 'none' : found.map((v) => `${v.id} (${v.impact})`).join(', ')}`)
      assert.deepEqual(serious, [], `${name}: ${JSON.stringify(serious)}`)
    }
    const page = await open(context, '/')
    await page.getByRole('form', { name: 'Sign in' }).waitFor()
    await check(page, 'sign-in')
    await signIn(page, ADMIN.username, ADMIN.password)
    await deviceRows(page).first().waitFor()
    await check(page, 'your session')
    await page.goto(`${server.origin}/admin`)
    await page.locator('#audit tbody tr, #audit caption').first().waitFor()
    await check(page, 'admin')
    await page.goto(`${server.origin}/debugger`)
    await page.getByText(/This issuer publishes/).waitFor()
    await page.getByLabel('JWT (compact form)').fill(await page.evaluate(() => 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'))
    await page.locator('[data-verdict]').waitFor()
    await check(page, 'debugger')
  })

  test('no page broke its Content-Security-Policy, and each is small', async (t) => {
    assert.deepEqual(violations, [])
    for (const path of ['/', '/admin', '/debugger']) {
      const context = await newContext()
      const page = await context.newPage()
      const sizes: Array<Promise<number>> = []
      page.on('requestfinished', (request) => sizes.push(request.sizes().then((size) => size.responseBodySize + size.responseHeadersSize)))
      // From the request to a page a person can use: the main heading rendered by its script.
      const started = Date.now()
      await page.goto(server.origin + path, { waitUntil: 'commit' })
      await page.locator('main h1').first().waitFor()
      const interactive = Date.now() - started
      await page.waitForLoadState('networkidle')
      const bytes = (await Promise.all(sizes)).reduce((sum, size) => sum + size, 0)
      t.diagnostic(`${path}: ${(bytes / 1024).toFixed(1)} KB transferred (gzip, ${sizes.length} requests), interactive in ${interactive} ms`)
      const csp = (await page.request.get(server.origin + path)).headers()['content-security-policy']
      assert.match(csp ?? '', /script-src 'self'; style-src 'self'/)
      assert.ok(bytes < 100 * 1024, `${path}: ${bytes} bytes`)
    }
  })
})
