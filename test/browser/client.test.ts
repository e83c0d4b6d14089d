// hallpass/client in real headless Chromium against a real `hallpass serve`: tabs that share
// one refresh, sign out together, wake from sleep, run on skewed clocks, live through an
// outage, reload, and meet a replayed cookie; the cross-origin setups a front end meets.
import assert from 'node:assert/strict'
import { gzipSync } from 'node:zlib'
import { after, before, describe, test } from 'node:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { freePort } from '../helpers/ports.ts'
import { bundleClient, checkChromium, launchChromium, serveApp, serveWithProxy, testPage, type Served } from './harness.ts'

const skip = checkChromium()
const TTL_MS = 10 * 60_000 // the server's default access-token lifetime

interface PageWindow {
  hp: import('hallpass/client').HallpassClient
  events: import('hallpass/client').ClientEvent[]
}

describe('hallpass/client in Chromium', { skip }, () => {
  let browser: Browser
  let served: Served
  const contexts: BrowserContext[] = []

  before(async () => {
    browser = await launchChromium()
    // A 1 s grace window, so a replayed cookie counts as reuse after a short wait.
    served = await serveWithProxy({ HALLPASS_REUSE_WINDOW: '1s' })
  })
  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined)
    await browser?.close()
    await served?.close()
  })

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext()
    contexts.push(context)
    return context
  }

  /** Opens `path` and waits until the client knows whether there is a session. */
  async function open(context: BrowserContext, path = '/', origin = served.origin): Promise<Page> {
    const page = await context.newPage()
    await page.goto(origin + path)
    await page.waitForFunction(() => (globalThis as unknown as PageWindow).hp?.state !== 'unknown' && (globalThis as unknown as PageWindow).hp !== undefined)
    return page
  }

  const login = (page: Page): Promise<void> =>
    page.evaluate((password) => (globalThis as unknown as PageWindow).hp.login('demo', password), served.demoPassword)
  const callMe = (page: Page): Promise<number> => page.evaluate(async () => (await (globalThis as unknown as PageWindow).hp.fetch('/auth/me')).status)
  const state = (page: Page): Promise<string> => page.evaluate(() => (globalThis as unknown as PageWindow).hp.state)
  const events = (page: Page): Promise<Array<{ type: string; reason?: string }>> => page.evaluate(() => (globalThis as unknown as PageWindow).events)
  /** The sign-outs since the tab first signed in (a tab opened before the login starts signed out). */
  const signOuts = async (page: Page): Promise<string[]> => {
    const all = await events(page)
    return all.slice(Math.max(0, all.findIndex((e) => e.type === 'signed-in'))).filter((e) => e.type === 'signed-out').map((e) => e.reason!)
  }

  async function metric(name: string): Promise<number> {
    const text = await (await fetch(`${served.origin}/metrics`)).text()
    return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0)
  }

  test('3 tabs, 30 calls at the moment the token expires: one refresh reaches the server, every call succeeds', async () => {
    const context = await newContext()
    await context.clock.install()
    const a = await open(context)
    assert.equal(await state(a), 'signed-out')
    await login(a)
    const before = served.refreshes
    // Tabs that open later take the token from the first one: no refresh at all.
    const [b, c] = [await open(context), await open(context)]
    assert.equal(await state(b), 'signed-in')
    assert.equal(await state(c), 'signed-in')
    assert.equal(served.refreshes, before, 'new tabs asked the first tab, not the server')

    // Every tab's clock jumps past expiry without its timers firing (a frozen laptop that
    // wakes): the 30 calls themselves find the token expired, all at once.
    const reuseBefore = await metric('hallpass_refresh_reuse_detections_total')
    await context.clock.setSystemTime(Date.now() + TTL_MS + 1000)
    const tabs = [a, b, c]
    const statuses = await Promise.all(Array.from({ length: 30 }, (_, i) => callMe(tabs[i % 3]!)))
    assert.deepEqual(statuses, Array(30).fill(200))
    assert.equal(served.refreshes - before, 1, `one refresh for 3 tabs and 30 calls: ${JSON.stringify(await Promise.all(tabs.map(events)))}`)
    assert.equal(await metric('hallpass_refresh_reuse_detections_total'), reuseBefore, 'no reuse detection')
    for (const tab of tabs) assert.deepEqual(await signOuts(tab), [])
  })

  test('logout in one tab signs the other two out within 1 s; they send the old token no more', async () => {
    const context = await newContext()
    const a = await open(context)
    await login(a)
    const [b, c] = [await open(context), await open(context)]
    const token = await a.evaluate(() => (globalThis as unknown as PageWindow).hp.getAccessToken())
    const started = Date.now()
    await a.evaluate(() => (globalThis as unknown as PageWindow).hp.logout())
    await Promise.all([b, c].map((tab) => tab.waitForFunction(() => (globalThis as unknown as PageWindow).hp.state === 'signed-out', undefined, { timeout: 1000 })))
    const elapsed = Date.now() - started
    assert.ok(elapsed < 1000, `${elapsed} ms`)
    const sentBefore = served.bearers.length
    for (const tab of [b, c]) {
      assert.deepEqual(await signOuts(tab), ['logout'])
      const code = await tab.evaluate(async () => {
        try {
          await (globalThis as unknown as PageWindow).hp.fetch('/auth/me')
          return 'sent'
        } catch (error) {
          return (error as { code?: string }).code
        }
      })
      assert.equal(code, 'ERR_CLIENT_SIGNED_OUT')
    }
    assert.ok(!served.bearers.slice(sentBefore).includes(token), 'the old token was not sent again')
  })

  test('a tab asleep past expiry wakes: one refresh, no failed call', async () => {
    const context = await newContext()
    await context.clock.install()
    const page = await open(context)
    await login(page)
    const before = served.refreshes
    // Asleep: the clock moves on, no timer ran. Waking makes the page visible again while a
    // call is already on its way.
    await context.clock.setSystemTime(Date.now() + TTL_MS + 60_000)
    const [status] = await Promise.all([callMe(page), page.evaluate(() => (globalThis as unknown as { document: EventTarget }).document.dispatchEvent(new Event('visibilitychange')))])
    assert.equal(status, 200)
    assert.equal(await callMe(page), 200)
    assert.equal(served.refreshes - before, 1)
    assert.deepEqual(await signOuts(page), [])
  })

  for (const skewMinutes of [5, -5]) {
    test(`a client clock ${Math.abs(skewMinutes)} minutes ${skewMinutes > 0 ? 'fast' : 'slow'}: no refresh loop, no expired token, the server's clock known`, async () => {
      const context = await newContext()
      await context.addInitScript((skewMs: number) => {
        const RealDate = Date
        class SkewedDate extends RealDate {
          constructor(...args: ConstructorParameters<DateConstructor> | []) {
            if (args.length === 0) super(RealDate.now() + skewMs)
            else super(...args)
          }
          static override now(): number {
            return RealDate.now() + skewMs
          }
        }
        globalThis.Date = SkewedDate as DateConstructor
      }, skewMinutes * 60_000)
      const page = await open(context)
      // The page's own (skewed) clock when the login is sent.
      const loginSentAfter = await page.evaluate(() => Date.now())
      await login(page)
      const loginAnsweredBefore = await page.evaluate(() => Date.now())
      const before = served.refreshes
      for (let i = 0; i < 10; i++) {
        assert.equal(await callMe(page), 200)
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
      assert.equal(served.refreshes, before, 'no refresh while the token is fresh')
      const [serverTime, expiresAt] = await page.evaluate(() => {
        const w = globalThis as unknown as PageWindow
        const signedIn = w.events.find((e) => e.type === 'signed-in') as { expiresAt: number }
        return [w.hp.serverTime(), signedIn.expiresAt]
      })
      assert.ok(Math.abs(serverTime - Date.now()) < 2000, `server time estimated ${serverTime - Date.now()} ms off`)
      // Expiry is on the client's own clock, whatever the skew: the lifetime counted from the
      // moment the login was sent (so the network time counts against the token).
      assert.ok(expiresAt >= loginSentAfter + TTL_MS && expiresAt <= loginAnsweredBefore + TTL_MS, `expires ${expiresAt - loginSentAfter} ms after the login was sent`)
    })
  }

  test('refreshes answered 503 for 10 s: the session survives and recovers; invalid_grant signs out', async () => {
    const context = await newContext()
    await context.clock.install()
    const page = await open(context)
    await login(page)
    const sessionId = await page.evaluate(() => (globalThis as unknown as PageWindow).hp.sessionId!)
    served.failRefreshes = true
    try {
      // The proactive refresh comes due, fails, and backs off; calls go on with the valid token.
      await context.clock.fastForward(TTL_MS - 30_000)
      const outageEnds = Date.now() + 10_000
      while (Date.now() < outageEnds) {
        assert.equal(await callMe(page), 200)
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
    } finally {
      served.failRefreshes = false
    }
    assert.equal(await state(page), 'signed-in')
    const before = served.refreshes
    await context.clock.fastForward(30_000) // the next retry
    await page.waitForFunction(() => (globalThis as unknown as PageWindow).events.some((e) => e.type === 'refreshed'))
    assert.equal(served.refreshes - before, 1)
    assert.equal(await callMe(page), 200)
    assert.deepEqual(await signOuts(page), [])

    // Revoked from another device: the next refresh is invalid_grant, and that signs out.
    const other = (await (await fetch(`${served.origin}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'demo', password: served.demoPassword }) })).json()) as { access_token: string }
    const revoked = await fetch(`${served.origin}/auth/sessions/${sessionId}`, { method: 'DELETE', headers: { authorization: `Bearer ${other.access_token}` } })
    assert.equal(revoked.status, 204)
    assert.equal(await callMe(page), 401, 'the revoked session is refused, and its refresh too')
    assert.deepEqual(await signOuts(page), ['revoked'])
  })

  test('a reload restores the session; a replayed old refresh cookie signs out as reuse', async () => {
    const context = await newContext()
    const page = await open(context)
    await login(page)
    const sessionId = await page.evaluate(() => (globalThis as unknown as PageWindow).hp.sessionId)
    const first = await context.cookies()
    assert.equal(first.length, 1)
    assert.equal(first[0]!.name, '__Host-hallpass_rt')
    assert.ok(first[0]!.httpOnly && first[0]!.secure && first[0]!.sameSite === 'Strict')

    await page.reload()
    await page.waitForFunction(() => (globalThis as unknown as PageWindow).hp.state !== 'unknown')
    assert.equal(await state(page), 'signed-in')
    assert.equal(await page.evaluate(() => (globalThis as unknown as PageWindow).hp.sessionId), sessionId)
    assert.equal(await callMe(page), 200)
    assert.notEqual((await context.cookies())[0]!.value, first[0]!.value, 'the restore rotated the cookie')

    // Past the grace window, the cookie from before the rotation comes back (a thief's copy).
    await new Promise((resolve) => setTimeout(resolve, 1500))
    await context.addCookies(first)
    await page.reload()
    await page.waitForFunction(() => (globalThis as unknown as PageWindow).hp.state !== 'unknown')
    assert.deepEqual(await signOuts(page), ['reuse_detected'])
  })

  test('refresh requests over 30 simulated minutes, 3 tabs, 1,000 calls: the client against a naive one', async (t) => {
    const naivePage = `<!doctype html><meta charset="utf-8"><script type="module">
      // What a team writes by hand: refresh when the token is about to expire, per call, per tab.
      let token, exp = 0
      async function accessToken() {
        if (token === undefined || Date.now() > exp - 60000) {
          const response = await fetch('/auth/refresh', { method: 'POST', headers: { 'x-hallpass-client': 'browser' } })
          const body = await response.json()
          token = body.access_token
          exp = Date.now() + body.expires_in * 1000
        }
        return token
      }
      window.call = async (url) => (await fetch(url, { headers: { authorization: 'Bearer ' + await accessToken() } })).status
      window.ready = true
    </script>`
    served.pages.set('/naive', naivePage)

    async function simulate(kind: 'client' | 'naive'): Promise<{ refreshes: number; failed: number }> {
      const context = await newContext()
      await context.clock.install()
      const first = await open(context)
      await login(first)
      const tabs = kind === 'client' ? [first, await open(context), await open(context)] : []
      if (kind === 'naive') {
        for (let i = 0; i < 3; i++) {
          const tab = await context.newPage()
          await tab.goto(`${served.origin}/naive`)
          await tab.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true)
          tabs.push(tab)
        }
      }
      const before = served.refreshes
      let failed = 0
      // 100 bursts of 10 calls, 18 s apart: an app rendering a view now and then.
      for (let burst = 0; burst < 100; burst++) {
        await context.clock.fastForward(18_000)
        const statuses = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            kind === 'client' ? callMe(tabs[i % 3]!) : tabs[i % 3]!.evaluate(() => (globalThis as unknown as { call(url: string): Promise<number> }).call('/auth/me')),
          ),
        )
        failed += statuses.filter((status) => status !== 200).length
      }
      await context.close()
      return { refreshes: served.refreshes - before, failed }
    }

    const client = await simulate('client')
    const naive = await simulate('naive')
    t.diagnostic(`30 simulated minutes, 3 tabs, 1,000 calls, 10-minute tokens: hallpass/client ${client.refreshes} refreshes, naive ${naive.refreshes} (floor 3)`)
    assert.equal(client.failed, 0)
    assert.ok(client.refreshes >= 3 && client.refreshes <= 4, `${client.refreshes} refreshes`)
    assert.ok(naive.refreshes > client.refreshes)
  })

  test('the bundle: at most 4 KB minified and gzipped', async (t) => {
    const bundle = await bundleClient()
    const gzipped = gzipSync(bundle, { level: 9 }).length
    t.diagnostic(`hallpass/client: ${bundle.length} bytes minified, ${gzipped} bytes gzipped`)
    assert.ok(gzipped <= 4096, `${gzipped} bytes gzipped`)
  })
})

describe('hallpass/client across origins', { skip }, () => {
  let browser: Browser
  let served: Served
  const apps: Array<{ origin: string; close(): void }> = []

  before(async () => {
    browser = await launchChromium()
    const bundle = await bundleClient()
    const ports = [await freePort('localhost'), await freePort('127.0.0.1')]
    const origins = [`http://localhost:${ports[0]}`, `http://127.0.0.1:${ports[1]}`]
    served = await serveWithProxy({ HALLPASS_CORS_ORIGINS: origins.join(',') })
    const pages = new Map([['/', testPage('/client.js', served.origin)]])
    apps.push(await serveApp('localhost', ports[0]!, pages, bundle), await serveApp('127.0.0.1', ports[1]!, pages, bundle))
  })
  after(async () => {
    for (const app of apps) app.close()
    await browser?.close()
    await served?.close()
  })

  async function openApp(context: BrowserContext, origin: string): Promise<Page> {
    const page = await context.newPage()
    await page.goto(`${origin}/`)
    await page.waitForFunction(() => (globalThis as unknown as PageWindow).hp !== undefined && (globalThis as unknown as PageWindow).hp.state !== 'unknown')
    return page
  }

  test('an app on another port of localhost (same site): cookie mode works with CORS, and reloads restore', async () => {
    const context = await browser.newContext()
    try {
      const page = await openApp(context, apps[0]!.origin)
      await page.evaluate((password) => (globalThis as unknown as PageWindow).hp.login('demo', password), served.demoPassword)
      assert.equal(await page.evaluate(async (issuer) => (await (globalThis as unknown as PageWindow).hp.fetch(`${issuer}/auth/me`)).status, served.origin), 200)
      await page.reload()
      await page.waitForFunction(() => (globalThis as unknown as PageWindow).hp.state !== 'unknown')
      assert.equal(await page.evaluate(() => (globalThis as unknown as PageWindow).hp.state), 'signed-in')
    } finally {
      await context.close()
    }
  })

  test('an app on another site: the SameSite=Strict cookie is never stored, so a reload finds no session', async () => {
    const context = await browser.newContext()
    try {
      const page = await openApp(context, apps[1]!.origin)
      // The login itself answers (CORS allows the origin) and the access token works...
      await page.evaluate((password) => (globalThis as unknown as PageWindow).hp.login('demo', password), served.demoPassword)
      assert.equal(await page.evaluate(async (issuer) => (await (globalThis as unknown as PageWindow).hp.fetch(`${issuer}/auth/me`)).status, served.origin), 200)
      // ...but the browser kept no cookie from a cross-site response.
      await page.reload()
      await page.waitForFunction(() => (globalThis as unknown as PageWindow).hp.state !== 'unknown')
      assert.equal(await page.evaluate(() => (globalThis as unknown as PageWindow).hp.state), 'signed-out')
      assert.deepEqual(await page.evaluate(() => (globalThis as unknown as PageWindow).events.map((e) => e.type === 'signed-out' ? e.reason : e.type)), ['no_session'])
    } finally {
      await context.close()
    }
  })
})
