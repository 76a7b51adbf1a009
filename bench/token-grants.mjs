// Password grants per second on POST /token, beside the bare cost of the password hash in the
// same run: grants/s ÷ scrypt verifications/s shows what the endpoint adds to the hash, which
// by design bounds it. Run after `npm run build`:  node bench/token-grants.mjs [seconds]
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { hashPassword, verifyPassword } from '../dist/issuer/passwords.js'
import { writeUsers } from '../dist/issuer/users.js'

const seconds = Number(process.argv[2] ?? 10)
const concurrency = 4
const root = fileURLToPath(new URL('..', import.meta.url))
const password = 'bench password 1'

/** Runs `task` from `concurrency` loops for `seconds` and returns completions per second. */
async function rate(task) {
  const deadline = Date.now() + seconds * 1000
  let done = 0
  const loop = async () => {
    while (Date.now() < deadline) {
      await task()
      done++
    }
  }
  const started = Date.now()
  await Promise.all(Array.from({ length: concurrency }, loop))
  return done / ((Date.now() - started) / 1000)
}

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

const dataDir = mkdtempSync(join(tmpdir(), 'jwtgate-bench-token-'))
const encoded = await hashPassword(password)
writeUsers(join(dataDir, 'users.yaml'), [
  { username: 'bench', passwordHash: encoded, groups: [], disabled: false },
])

const port = await freePort()
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('JWTGATE_')),
)
const gate = spawn(process.execPath, ['bin/jwtgate.js', 'serve'], {
  cwd: root,
  env: {
    ...env,
    JWTGATE_PORT: String(port),
    JWTGATE_HOST: '127.0.0.1',
    JWTGATE_DATA_DIR: dataDir,
    JWTGATE_LOG_LEVEL: 'warn',
  },
  stdio: 'ignore',
})
try {
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const body = new URLSearchParams({ grant_type: 'password', username: 'bench', password })
  const grant = async () => {
    const response = await fetch(`${url}/token`, { method: 'POST', body })
    if (response.status !== 200) throw new Error(`/token answered ${response.status}`)
    await response.arrayBuffer()
  }

  // Alternate the two measurements so drift on a shared machine hits both alike.
  const hashes = []
  const grants = []
  for (let round = 0; round < 2; round++) {
    hashes.push(await rate(() => verifyPassword(password, encoded)))
    grants.push(await rate(grant))
  }
  const median = (list) => list.sort((a, b) => a - b)[Math.floor(list.length / 2)]
  const [h, g] = [median(hashes), median(grants)]
  console.log(`| measure (${concurrency} concurrent, ${seconds} s × 2) | per second |`)
  console.log('| --- | ---: |')
  console.log(`| scrypt verifications in this process (N=2^15, r=8, p=1) | ${h.toFixed(1)} |`)
  console.log(`| POST /token password grants | ${g.toFixed(1)} |`)
  console.log(`| grants ÷ verifications | ${(g / h).toFixed(2)} |`)
} finally {
  gate.kill('SIGTERM')
}
