// Functional checks before any load: a fast wrong answer is not a result.
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { logTail } from './procs.mjs'

// node:http rather than fetch: we want the raw framing headers (Transfer-Encoding) too.
function get(url, token) {
  return new Promise((resolve, reject) => {
    const headers = token ? { Authorization: `Bearer ${token}` } : {}
    const req = http.get(url, { headers, agent: false, timeout: 5000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }))
    })
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')))
    req.on('error', reject)
  })
}

async function tryGet(url, token) {
  try {
    return await get(url, token)
  } catch (err) {
    return { status: 0, headers: {}, body: '', error: err.message }
  }
}

function describe(res) {
  if (res.error) return `error: ${res.error}`
  const www = res.headers['www-authenticate']
    ? `, WWW-Authenticate: ${res.headers['www-authenticate']}`
    : ''
  const body = res.body ? `, body: ${JSON.stringify(res.body.slice(0, 200))}` : ''
  return `${res.status}${www}${body}`
}

// A gate may still be fetching its JWKS when it starts listening (503 "cannot decide"): give it
// a few seconds before calling that a failure.
async function getSettled(url, token, waitMs) {
  const deadline = Date.now() + waitMs
  let res
  do {
    res = await tryGet(url, token)
    if (res.status !== 503 && res.status !== 0) return res
    await sleep(250)
  } while (Date.now() < deadline)
  return res
}

// Collects the outcome of each expectation: `passed` in a few words for the summary,
// `problems` as full sentences naming the request and what came back.
function collector() {
  const c = { problems: [], warnings: [], passed: [] }
  c.expect = (request, short, res, status) => {
    if (res.status === status) c.passed.push(`${short} → ${status}`)
    else c.problems.push(`${request}: expected ${status}, got ${describe(res)}`)
    return res.status === status
  }
  return c
}

function checkIdentity(c, res, target, tokens) {
  const user = res.headers['x-webauth-user']
  if (!user) c.problems.push('GET /auth with the hot token: 200 without X-WEBAUTH-USER')
  else c.passed.push(`X-WEBAUTH-USER: ${user}`)
  if (user && target.verifies && user !== tokens.hotUser) {
    c.warnings.push(`X-WEBAUTH-USER is "${user}", expected "${tokens.hotUser}"`)
  }
  // Every 200 carries all five headers (empty allowed) so a proxy always overwrites forgeries.
  const missing = ['EMAIL', 'NAME', 'GROUPS', 'ROLE']
    .map((h) => `X-WEBAUTH-${h}`)
    .filter((h) => !(h.toLowerCase() in res.headers))
  if (missing.length)
    c.problems.push(`GET /auth with the hot token: 200 lacks ${missing.join(', ')}`)
  const te = res.headers['transfer-encoding']
  if (te) c.warnings.push(`/auth answers Transfer-Encoding: ${te}; nginx reconnects per request`)
}

// target: { name, port, verifies }; front: its nginx front port when via-nginx scenarios run.
export async function checkTarget(target, front, tokens) {
  const c = collector()
  const auth = `http://127.0.0.1:${target.port}/auth`

  const hot = await getSettled(auth, tokens.hot, 15_000)
  if (c.expect('GET /auth with the hot token', 'hot token', hot, 200)) {
    checkIdentity(c, hot, target, tokens)
  }
  const cold = await tryGet(auth, tokens.cold[tokens.cold.length - 1])
  c.expect('GET /auth with a cold token', 'cold token', cold, 200)
  if (target.verifies) {
    const forged = await tryGet(auth, tokens.forged)
    c.expect('GET /auth with a token signed by another key', 'other key', forged, 401)
    c.expect('GET /auth without a token', 'no token', await tryGet(auth, null), 401)
  }

  if (front) {
    const url = `http://127.0.0.1:${front}/dashboards`
    const via = await tryGet(url, tokens.hot)
    if (c.expect('GET via nginx with the hot token', 'via nginx hot', via, 200)) {
      const seen = via.headers['x-seen-user']
      if (seen) c.passed.push(`upstream saw ${seen}`)
      else c.problems.push('GET via nginx with the hot token: the upstream saw no X-WEBAUTH-USER')
    }
    if (target.verifies) {
      const forged = await tryGet(url, tokens.forged)
      c.expect(
        'GET via nginx with a token signed by another key',
        'via nginx other key',
        forged,
        401,
      )
    }
  }
  return c
}

// Checks every started target; a failing one gets `.failure` (and an entry in failures) and is
// left out of the load runs. Returns one "name: what passed" line per passing target.
export async function checkTargets(targets, { tokens, viaNginx, failures, warnings, record, log }) {
  const passed = []
  for (const t of targets) {
    if (!t.failure) {
      const c = await checkTarget(t, viaNginx && t.frontPort, tokens)
      warnings.push(...c.warnings.map((w) => `${t.name}: ${w}`))
      if (c.problems.length) t.failure = [...c.problems, `log tail:\n${logTail(t.entry)}`]
      else passed.push(`${t.name}: ${c.passed.join(', ')}`)
    }
    record({ type: 'check', target: t.name, ok: !t.failure, problems: t.failure ?? [] })
    log(`check ${t.name}: ${t.failure ? `FAILED\n  ${t.failure.join('\n  ')}` : 'ok'}`)
    if (t.failure) failures.push({ target: t.name, problems: t.failure })
  }
  return passed
}
