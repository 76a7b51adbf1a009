import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'

import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { REPO_ROOT } from '../helpers/gate.js'
import { IDENTITY } from '../helpers/identity-fixtures.js'

const FIVE = IDENTITY.map((name) => name.toUpperCase())

/** Sections of an INI file as Grafana reads it: `#` and `;` start comment lines. */
function readIni(path: string): Record<string, Record<string, string>> {
  const sections: Record<string, Record<string, string>> = {}
  let current: Record<string, string> = {}
  for (const raw of readFileSync(join(REPO_ROOT, path), 'utf8').split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const section = /^\[(.+)\]$/.exec(line)
    if (section) {
      current = sections[section[1]!] = {}
      continue
    }
    const eq = line.indexOf('=')
    current[line.slice(0, eq).trim()] = line.slice(eq + 1).trim()
  }
  return sections
}

describe('deploy/grafana', () => {
  it('grafana.ini sets exactly the [auth.proxy] keys Grafana reads', () => {
    const ini = readIni('deploy/grafana/grafana.ini')

    expect(Object.keys(ini)).toEqual(['auth.proxy'])
    expect(Object.keys(ini['auth.proxy']!).sort()).toEqual(
      [
        'enabled',
        'header_name',
        'header_property',
        'auto_sign_up',
        'sync_ttl',
        'whitelist',
        'headers',
        'headers_encoded',
        'enable_login_token',
      ].sort(),
    )
  })

  it('grafana.ini maps the five headers and decodes what the gate encodes', () => {
    const proxy = readIni('deploy/grafana/grafana.ini')['auth.proxy']!
    const mapped = Object.fromEntries(proxy.headers!.split(/\s+/).map((pair) => pair.split(':')))

    expect(proxy.header_name).toBe('X-WEBAUTH-USER')
    expect(mapped).toEqual({
      Email: 'X-WEBAUTH-EMAIL',
      Name: 'X-WEBAUTH-NAME',
      Groups: 'X-WEBAUTH-GROUPS',
      Role: 'X-WEBAUTH-ROLE',
    })
    expect(proxy).toMatchObject({ headers_encoded: 'true', enable_login_token: 'false' })
  })

  it("grafana-jwt.ini reads the gate's published keys over https", () => {
    const ini = readIni('deploy/grafana/grafana-jwt.ini')
    const jwt = ini['auth.jwt']!

    expect(Object.keys(ini)).toEqual(['auth.jwt'])
    expect(jwt.enabled).toBe('true')
    const url = new URL(jwt.jwk_set_url!)
    expect(url.protocol).toBe('https:')
    expect(url.pathname).toBe('/.well-known/jwks.json')
    expect(JSON.parse(jwt.expect_claims!)).toMatchObject({ aud: 'grafana' })
  })
})

describe('nginx/ingress-nginx.yaml', () => {
  const [ingress] = parseAllDocuments(
    readFileSync(join(REPO_ROOT, 'nginx', 'ingress-nginx.yaml'), 'utf8'),
  ).map((doc) => doc.toJS())
  const annotation = (name: string): string =>
    ingress.metadata.annotations[`nginx.ingress.kubernetes.io/${name}`]

  it("asks the gate's nginx endpoint and copies the five headers", () => {
    expect(ingress.kind).toBe('Ingress')
    expect(new URL(annotation('auth-url')).pathname).toBe('/auth')
    expect(annotation('auth-response-headers').split(',')).toEqual(FIVE)
  })

  it('sends browsers to the login page and keeps the token from Grafana', () => {
    expect(new URL(annotation('auth-signin')).pathname).toBe('/login')
    expect(annotation('auth-always-set-cookie')).toBe('true')
    expect(annotation('configuration-snippet')).toMatch(/proxy_set_header Authorization "";/)
  })
})
