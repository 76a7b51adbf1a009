import { chromium } from 'playwright-core'
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest'

import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import { startEchoPageUpstream } from '../helpers/echo-page-upstream.js'
import { REPO_ROOT } from '../helpers/gate.js'
import { startNginx } from '../helpers/nginx.js'
import { freePort } from '../helpers/ports.js'
import { describeWithBinary } from '../helpers/requirements.js'
import { SIGN_IN_ACCESS_TTL, SIGN_IN_USER, startSignInGate } from '../helpers/sign-in-gate.js'

import type { BrowserContext, Page } from 'playwright-core'

import type { EchoPageUpstream } from '../helpers/echo-page-upstream.js'
import type { Gate } from '../helpers/gate.js'
import type { Nginx } from '../helpers/nginx.js'

/** Where the login page's screenshot goes; the folder is git-ignored. */
const SCREENSHOT = join(REPO_ROOT, 'test-artifacts', 'login.png')

/**
 * Root runs Chromium without its sandbox; the rest keeps a headless run from reaching for the
 * network (CI has none) or for a GPU (there is none).
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

// The human path of README "Browser sign-in", in Debian's Chromium driven by playwright-core,
// through a real nginx running the shipped nginx/jwtgate.conf (only its addresses changed), the
// real gate as its own issuer, and a stand-in Grafana whose page shows the identity it received.
// The tests below run in order and share one browser, as one person's visit does.
describeWithBinary('chromium', 'a browser signing in through nginx', (chromiumPath) => {
  describeWithBinary('nginx', 'with the shipped nginx config', () => {
    let profile: string
    let context: BrowserContext
    let page: Page
    let gate: Gate
    let nginx: Nginx
    let upstream: EchoPageUpstream
    let site: string
    let asked: string

    beforeAll(async () => {
      const listen = await freePort()
      site = `http://127.0.0.1:${listen}`
      asked = `${site}/d/abc/overview?orgId=1&from=now-6h`
      gate = await startSignInGate(site)
      upstream = await startEchoPageUpstream()
      nginx = await startNginx({ jwtgate: gate.address, grafana: upstream.address, listen })

      profile = await mkdtemp(join(tmpdir(), 'jwtgate-chromium-'))
      context = await chromium.launchPersistentContext(profile, {
        executablePath: chromiumPath,
        args: CHROMIUM_ARGS,
        headless: true,
        viewport: { width: 800, height: 600 },
      })
      page = context.pages()[0] ?? (await context.newPage())
    })
    afterAll(async () => {
      await context?.close()
      await nginx?.stop()
      await gate?.stop()
      await upstream?.close()
      if (profile) await rm(profile, { recursive: true, force: true })
    })
    beforeEach(({ onTestFailed }) => {
      onTestFailed(async () => {
        console.error(`--- page ${page?.url()} ---\n${await page?.content().catch(() => '')}`)
        console.error(`--- jwtgate ---\n${gate?.logs()}\n--- nginx ---\n${await nginx?.errorLog()}`)
      })
    })

    const loginUrl = (rd: string) => `${site}/login?rd=${encodeURIComponent(rd)}`
    const sessionCookie = async () =>
      (await context.cookies(site)).find((cookie) => cookie.name === 'jwtgate')?.value
    const shownUser = () => page.locator('#x-webauth-user').textContent()

    it('lands on the sign-in page when opening a protected page', async () => {
      await page.goto(asked)

      expect(page.url()).toBe(loginUrl(asked))
      await expect.poll(() => page.title()).toContain('Sign in')
      expect(await page.locator('form[method="post"][action="/login"]').count()).toBe(1)
      expect(await page.getByLabel('Username').isVisible()).toBe(true)
      expect(await page.getByLabel('Password').getAttribute('type')).toBe('password')
      expect(await page.locator('input[name="rd"]').inputValue()).toBe(asked)

      await mkdir(join(REPO_ROOT, 'test-artifacts'), { recursive: true })
      await page.screenshot({ path: SCREENSHOT, fullPage: true })
    })

    it('signs in and returns to the page first asked for, as the user', async () => {
      await page.getByLabel('Username').fill(SIGN_IN_USER.username)
      await page.getByLabel('Password').fill(SIGN_IN_USER.password)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL(asked)

      expect(await shownUser()).toBe(SIGN_IN_USER.username)
      expect(await page.locator('#x-webauth-email').textContent()).toBe(SIGN_IN_USER.email)
      expect(await page.locator('#x-webauth-role').textContent()).toBe('Editor')
      expect(await sessionCookie()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+~[\w-]+$/)
    })

    it('stays signed in after the access token expired, on a renewed cookie', async () => {
      const before = await sessionCookie()
      await sleep((SIGN_IN_ACCESS_TTL + 1) * 1_000)

      await page.reload()

      expect(page.url()).toBe(asked)
      expect(await shownUser()).toBe(SIGN_IN_USER.username)
      const after = await sessionCookie()
      expect(after).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+~[\w-]+$/)
      expect(after).not.toBe(before)
    }, 15_000)

    it('signs out, and the protected page sends the browser to sign in again', async () => {
      await page.goto(`${site}/logout`)
      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.waitForURL(`${site}/login`)

      expect(await page.locator('form[action="/login"]').count()).toBe(1)
      expect(await sessionCookie()).toBeUndefined()
      await page.goto(asked)
      expect(page.url()).toBe(loginUrl(asked))
    })

    it('shows an error on the sign-in page for a wrong password', async () => {
      await page.goto(loginUrl(asked))
      await page.getByLabel('Username').fill(SIGN_IN_USER.username)
      await page.getByLabel('Password').fill('not the password')
      await page.getByRole('button', { name: 'Sign in' }).click()

      const alert = page.getByRole('alert')
      await alert.waitFor()
      expect((await alert.textContent())?.trim()).not.toBe('')
      expect(new URL(page.url()).pathname).toBe('/login')
      expect(await page.getByLabel('Username').inputValue()).toBe(SIGN_IN_USER.username)
      expect(await sessionCookie()).toBeUndefined()
    })
  })
})
