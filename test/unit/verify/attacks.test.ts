import { CompactEncrypt, exportJWK, exportSPKI, importJWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { KeyObject, createHmac, randomBytes, sign } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'

import { captureLogs, startInProcessGate } from '../../helpers/in-process-gate.js'
import { startJWKSServer } from '../../helpers/jwks-server.js'
import { createSigningKey, jwks, signToken } from '../../helpers/tokens.js'

import type { InProcessGate, LogCapture } from '../../helpers/in-process-gate.js'
import type { JWKSServer } from '../../helpers/jwks-server.js'
import type { SigningKey, SignTokenOptions } from '../../helpers/tokens.js'
import type { CryptoKey, JWTPayload } from 'jose'

const ISSUER = 'https://idp.test'
const CLAIMS = { iss: ISSUER, aud: 'grafana', sub: 'alice', preferred_username: 'alice' }

const b64 = (data: string | Uint8Array) => Buffer.from(data).toString('base64url')
const json = (value: unknown) => b64(JSON.stringify(value))
const nowSeconds = () => Math.floor(Date.now() / 1000)

/** A compact JWS put together by hand, so that its parts can be anything an attacker sends. */
function forge(header: object, payload: object, signature: string): string {
  return `${json(header)}.${json(payload)}.${signature}`
}

function hs256(secret: string | Uint8Array, header: object, payload: object): string {
  const input = `${json(header)}.${json(payload)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** RS256 by hand over any header and raw payload text (duplicate members included). */
function signRaw(key: SigningKey, payload: string, header: object = {}): string {
  const input = `${json({ alg: 'RS256', kid: key.kid, ...header })}.${b64(payload)}`
  const signature = sign('sha256', Buffer.from(input), KeyObject.from(key.privateKey as never))
  return `${input}.${b64(signature)}`
}

function auth(gate: InProcessGate, headers: Record<string, string>): Promise<Response> {
  return fetch(`${gate.url}/auth`, { headers })
}

function bearer(gate: InProcessGate, token: string): Promise<Response> {
  return auth(gate, { authorization: `Bearer ${token}` })
}

/** A refusal: 401, an RFC 6750 `error`, and no identity header a proxy could copy. */
function expectRefused(response: Response, error = 'invalid_token'): void {
  expect(response.status).toBe(401)
  expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /)
  expect(response.headers.get('www-authenticate')).toContain(`error="${error}"`)
  expect(response.headers.get('x-webauth-user')).toBeNull()
  expect(response.headers.get('x-webauth-role')).toBeNull()
}

let rsa: SigningKey
let ec: SigningKey
let ps: SigningKey
let ed: SigningKey
let attacker: SigningKey
let idp: JWKSServer
let evil: JWKSServer
let logs: LogCapture
let gate: InProcessGate
const gateFor: Record<string, InProcessGate> = {}

function gateEnv(algorithms: string): Record<string, string> {
  return {
    JWTGATE_JWKS_URL: idp.url,
    JWTGATE_ISSUER: ISSUER,
    JWTGATE_AUDIENCE: 'grafana',
    JWTGATE_ALGORITHMS: algorithms,
  }
}

beforeAll(async () => {
  ;[rsa, ec, ps, ed, attacker] = await Promise.all([
    createSigningKey('RS256'),
    createSigningKey('ES256'),
    createSigningKey('PS256'),
    createSigningKey('EdDSA'),
    createSigningKey('RS256'),
  ])
  idp = await startJWKSServer(jwks(rsa, ec, ps, ed).keys)
  evil = await startJWKSServer(jwks(attacker).keys)
  logs = captureLogs()
  gate = await startInProcessGate(
    { ...gateEnv('RS256'), JWTGATE_LOG_LEVEL: 'debug' },
    { logStream: logs.stream },
  )
  for (const alg of ['ES256', 'PS256', 'EdDSA']) {
    gateFor[alg] = await startInProcessGate(gateEnv(`RS256,${alg}`))
  }
})

afterAll(async () => {
  await Promise.all([gate, ...Object.values(gateFor)].map((g) => g?.close()))
  await Promise.all([idp?.close(), evil?.close()])
})

describe('a real gate over HTTP', () => {
  it('accepts a well-formed RS256 token (the control case)', async () => {
    const response = await bearer(gate, await signToken(rsa, CLAIMS))
    expect(response.status).toBe(200)
    expect(response.headers.get('x-webauth-user')).toBe('alice')
  })
})

describe('alg none', () => {
  it.each([
    ['no signature', ''],
    ['a trailing signature', b64('anything')],
  ])('rejects an unsigned token with %s', async (_, signature) => {
    for (const alg of ['none', 'None', 'NONE']) {
      const token = forge({ alg, typ: 'JWT', kid: rsa.kid }, CLAIMS, signature)
      expectRefused(await bearer(gate, token))
    }
  })
})

describe('RS256/HS256 confusion', () => {
  it.each([
    ['the SPKI PEM', async () => exportSPKI((await importJWK(rsa.publicJwk, 'RS256')) as never)],
    ['the public JWK JSON', async () => JSON.stringify(rsa.publicJwk)],
    ['the raw modulus', async () => Buffer.from(rsa.publicJwk.n!, 'base64url')],
  ])('rejects HS256 signed with %s as the HMAC secret', async (_, secret) => {
    const exp = nowSeconds() + 600
    for (const kid of [rsa.kid, undefined]) {
      const token = hs256(await secret(), { alg: 'HS256', kid }, { ...CLAIMS, exp })
      expectRefused(await bearer(gate, token))
    }
  })
})

describe('key material chosen by the token', () => {
  it('rejects a token carrying its own signing key in an embedded jwk header', async () => {
    const jwk = { kty: 'RSA', n: attacker.publicJwk.n, e: attacker.publicJwk.e }
    for (const kid of [undefined, rsa.kid, attacker.kid]) {
      const token = await signToken(attacker, CLAIMS, { header: { jwk, kid } })
      expectRefused(await bearer(gate, token))
    }
  })

  it.each(['jku', 'x5u'])('never follows a %s header to an attacker server', async (member) => {
    evil.resetRequests()
    for (const kid of [attacker.kid, rsa.kid, undefined]) {
      const header = { [member]: evil.url, kid } as SignTokenOptions['header']
      expectRefused(await bearer(gate, await signToken(attacker, CLAIMS, { header })))
    }
    await sleep(100)
    expect(evil.requests).toBe(0)
  })
})

describe('hostile kid values', () => {
  it.each([
    ['a path traversal', '../../etc/passwd'],
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
    ['toString', 'toString'],
    ['a 10 kB kid', 'k'.repeat(10_000)],
    ['SQL-ish text', "' OR '1'='1'; DROP TABLE keys; --"],
    ['an empty string', ''],
    ['a NUL byte', 'a\u0000b'],
  ])('rejects a token whose kid is %s', async (_, kid) => {
    expectRefused(await bearer(gate, await signToken(rsa, CLAIMS, { header: { kid } })))
  })
})

describe('hostile headers', () => {
  it.each([
    ['a numeric kid', { kid: 42 }],
    ['a null kid', { kid: null }],
    ['an object kid', { kid: { toString: 'x' } }],
    ['an array kid', { kid: ['a'] }],
    ['an unknown critical extension', { crit: ['exp-ext'], 'exp-ext': true }],
    ['an unencoded payload (b64: false)', { b64: false, crit: ['b64'] }],
    ['a lowercase alg', { alg: 'rs256' }],
  ])('rejects a properly signed token with %s', async (_, extra) => {
    const payload = JSON.stringify({ ...CLAIMS, exp: nowSeconds() + 600 })
    expectRefused(await bearer(gate, signRaw(rsa, payload, extra)))
  })
})

describe('signature forgeries', () => {
  it('rejects an ES256 token whose signature is all zero bytes (psychic signature)', async () => {
    const es = gateFor.ES256!
    const header = { alg: 'ES256', kid: ec.kid }
    const payload = { ...CLAIMS, exp: nowSeconds() + 600 }
    expectRefused(await bearer(es, forge(header, payload, b64(new Uint8Array(64)))))
    expectRefused(await bearer(es, forge(header, payload, b64(new Uint8Array(72)))))
  })

  it('rejects a valid signature moved onto another payload', async () => {
    const [head, , signature] = (await signToken(rsa, CLAIMS)).split('.')
    const payload = json({ ...CLAIMS, sub: 'admin', exp: nowSeconds() + 600 })
    expectRefused(await bearer(gate, `${head}.${payload}.${signature}`))
  })

  it('rejects a JWE where a JWS is expected', async () => {
    const { kty, n, e } = rsa.publicJwk
    const key = await importJWK({ kty, n, e }, 'RSA-OAEP-256')
    const plaintext = new TextEncoder().encode(
      JSON.stringify({ ...CLAIMS, exp: nowSeconds() + 60 }),
    )
    const jwe = await new CompactEncrypt(plaintext)
      .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: rsa.kid })
      .encrypt(key)
    expect(jwe.split('.')).toHaveLength(5)
    expectRefused(await bearer(gate, jwe))
  })
})

describe('token size and count', () => {
  it.each([17 * 1024, 24 * 1024])(
    'refuses a %d-byte padded token with 401 or 431',
    async (size) => {
      const token = await signToken(rsa, { ...CLAIMS, pad: 'x'.repeat(size) })
      const response = await bearer(gate, token)
      expect([401, 431]).toContain(response.status)
      expect(response.headers.get('x-webauth-user')).toBeNull()
    },
  )

  it('refuses two different valid tokens in one request (bearer and cookie)', async () => {
    const first = await signToken(rsa, CLAIMS)
    const second = await signToken(rsa, { ...CLAIMS, sub: 'bob', preferred_username: 'bob' })
    const response = await auth(gate, {
      authorization: `Bearer ${first}`,
      cookie: `jwtgate=${second}`,
    })
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toMatch(/error="invalid_(request|token)"/)
    expect(response.headers.get('x-webauth-user')).toBeNull()
  })

  it.each<[string, () => Promise<string>]>([
    ['a non-JWT', async () => 'not-a-jwt'],
    ['an expired token', () => signToken(rsa, { ...CLAIMS, exp: nowSeconds() - 3600 })],
    ['a token signed by another key', () => signToken(attacker, CLAIMS)],
    ['an unsigned token', async () => forge({ alg: 'none' }, CLAIMS, '')],
  ])('refuses an invalid bearer (%s) even with a valid cookie', async (_, invalid) => {
    const cookie = await signToken(rsa, CLAIMS)
    const response = await auth(gate, {
      authorization: `Bearer ${await invalid()}`,
      cookie: `jwtgate=${cookie}`,
    })
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toMatch(/error="invalid_(request|token)"/)
    expect(response.headers.get('x-webauth-user')).toBeNull()
  })
})

describe('claims', () => {
  type Case = [string, (t: number) => JWTPayload, SignTokenOptions?]
  it.each<Case>([
    ['a wrong iss', () => ({ ...CLAIMS, iss: 'https://evil.test' })],
    ['an iss differing only by a trailing slash', () => ({ ...CLAIMS, iss: `${ISSUER}/` })],
    ['a wrong aud', () => ({ ...CLAIMS, aud: 'prometheus' })],
    ['no aud', () => ({ ...CLAIMS, aud: undefined })],
    ['no exp', () => CLAIMS, { expiresIn: null }],
    ['exp past the tolerance', (t) => ({ ...CLAIMS, iat: t - 600, exp: t - 120 })],
    ['nbf ahead of the tolerance', (t) => ({ ...CLAIMS, nbf: t + 120 })],
    ['iat ahead of the tolerance', (t) => ({ ...CLAIMS, iat: t + 120, exp: t + 600 })],
    ['a numeric sub', () => ({ ...CLAIMS, sub: 42 as never })],
    ['an object sub', () => ({ ...CLAIMS, sub: { id: 'alice' } as never })],
    ['no sub', () => ({ ...CLAIMS, sub: undefined })],
    ['numeric groups', () => ({ ...CLAIMS, groups: 7 })],
    ['groups holding a number', () => ({ ...CLAIMS, groups: ['admins', 7] })],
    ['a string exp', (t) => ({ ...CLAIMS, exp: String(t + 600) as never })],
  ])('rejects a token with %s', async (_, claims, options) => {
    const token = await signToken(rsa, claims(nowSeconds()), options)
    expectRefused(await bearer(gate, token))
  })

  it.each([
    ['exp', (t: number) => `"exp":${t + 600},"exp":${t - 3600}`],
    ['iss', (t: number) => `"iss":"${ISSUER}","iss":"https://evil.test","exp":${t + 600}`],
    ['aud', (t: number) => `"aud":"grafana","aud":"prometheus","exp":${t + 600}`],
  ])('reads a duplicated %s last-wins, never first-wins', async (claim, members) => {
    const base = claim === 'iss' ? '' : `"iss":"${ISSUER}",`
    const aud = claim === 'aud' ? '' : '"aud":"grafana",'
    const payload = `{${base}${aud}"sub":"alice",${members(nowSeconds())}}`
    expectRefused(await bearer(gate, signRaw(rsa, payload)))
  })

  it('maps a duplicated identity claim from its last occurrence', async () => {
    const payload =
      `{"iss":"${ISSUER}","aud":"grafana","exp":${nowSeconds() + 600},` +
      '"sub":"alice","preferred_username":"alice","preferred_username":"mallory"}'
    const response = await bearer(gate, signRaw(rsa, payload))
    expect(response.status).toBe(200)
    expect(response.headers.get('x-webauth-user')).toBe('mallory')
  })

  it('accepts a token expired within JWTGATE_CLOCK_TOLERANCE', async () => {
    const t = nowSeconds()
    const response = await bearer(
      gate,
      await signToken(rsa, { ...CLAIMS, iat: t - 600, exp: t - 10 }),
    )
    expect(response.status).toBe(200)
  })

  it('accepts a token whose nbf is ahead within the tolerance', async () => {
    const response = await bearer(gate, await signToken(rsa, { ...CLAIMS, nbf: nowSeconds() + 10 }))
    expect(response.status).toBe(200)
  })

  it('accepts a single-string groups claim as one group', async () => {
    const response = await bearer(gate, await signToken(rsa, { ...CLAIMS, groups: 'admins' }))
    expect(response.status).toBe(200)
    expect(response.headers.get('x-webauth-groups')).toBe('admins')
  })
})

describe('JWTGATE_ALGORITHMS', () => {
  const keyOf = (alg: string) => ({ ES256: ec, PS256: ps, EdDSA: ed })[alg]!

  it.each(['ES256', 'PS256', 'EdDSA'])('accepts %s when it is listed', async (alg) => {
    const response = await bearer(gateFor[alg]!, await signToken(keyOf(alg), CLAIMS))
    expect(response.status).toBe(200)
    expect(response.headers.get('x-webauth-user')).toBe('alice')
  })

  it.each(['ES256', 'PS256', 'EdDSA'])('refuses %s when only RS256 is listed', async (alg) => {
    expectRefused(await bearer(gate, await signToken(keyOf(alg), CLAIMS)))
  })

  it.each([
    ['ES256', 'PS256'],
    ['PS256', 'EdDSA'],
    ['EdDSA', 'ES256'],
  ])('refuses %s on a gate that lists RS256 and %s', async (alg, listed) => {
    expectRefused(await bearer(gateFor[listed]!, await signToken(keyOf(alg), CLAIMS)))
  })

  it('refuses an RSA key used for PS256 when the JWKS binds it to RS256', async () => {
    const privateKey = (await importJWK(await exportJWK(rsa.privateKey), 'PS256')) as CryptoKey
    const token = await signToken({ ...rsa, alg: 'PS256', privateKey }, CLAIMS)
    expectRefused(await bearer(gateFor.PS256!, token))
  })
})

describe('logs', () => {
  it('never writes a presented token or its signature to the log', async () => {
    const tokens = [
      await signToken(rsa, CLAIMS),
      await signToken(attacker, CLAIMS),
      forge({ alg: 'none' }, CLAIMS, b64('sig')),
    ]
    for (const token of tokens) await bearer(gate, token)
    await sleep(50)
    expect(logs.records().length).toBeGreaterThan(0)
    for (const token of tokens) {
      expect(logs.text()).not.toContain(token)
      expect(logs.text()).not.toContain(token.split('.')[2])
    }
  })
})

describe('a flood of unknown kids', () => {
  let server: JWKSServer
  let flooded: InProcessGate

  beforeAll(async () => {
    server = await startJWKSServer(jwks(rsa).keys)
    flooded = await startInProcessGate({
      JWTGATE_JWKS_URL: server.url,
      JWTGATE_ISSUER: ISSUER,
      JWTGATE_JWKS_COOLDOWN: '2',
    })
  })

  afterAll(async () => {
    await flooded?.close()
    await server?.close()
  })

  it('causes at most one JWKS refetch within the cooldown', async () => {
    await sleep(2_100) // let the cooldown of the first fetch run out
    server.resetRequests()
    for (let round = 0; round < 2; round++) {
      const kids = Array.from({ length: 50 }, () => randomBytes(12).toString('hex'))
      const tokens = await Promise.all(
        kids.map((kid) => signToken(rsa, CLAIMS, { header: { kid } })),
      )
      const responses = await Promise.all(tokens.map((token) => bearer(flooded, token)))
      for (const response of responses) expectRefused(response)
    }
    await sleep(200)
    expect(server.requests).toBeLessThanOrEqual(1)
    expect((await bearer(flooded, await signToken(rsa, CLAIMS))).status).toBe(200)
  })
})
