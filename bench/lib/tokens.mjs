// Key material and tokens for one bench run. Regenerated every run: `iss` carries the JWKS
// server's port, which is picked fresh each time.
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'

const KID = 'bench-1'
const AUDIENCE = 'grafana'

async function rsaKey() {
  return generateKeyPair('RS256', { extractable: true })
}

function claimsFor(i) {
  return {
    sub: `bench-user-${i}`,
    preferred_username: `user${i}`,
    email: `user${i}@bench.example`,
    name: `Bench User ${i}`,
    groups: i % 2 ? ['viewers', 'bench'] : ['editors', 'bench'],
  }
}

function sign(privateKey, issuer, i, now) {
  return new SignJWT(claimsFor(i))
    .setProtectedHeader({ alg: 'RS256', kid: KID, typ: 'JWT' })
    .setIssuer(issuer)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .setJti(`bench-${i}`)
    .sign(privateKey)
}

// WebCrypto signs off the main thread, so batches of concurrent signs use every core.
async function signMany(privateKey, issuer, from, count, now) {
  const out = []
  for (let start = from; start < from + count; start += 200) {
    const batch = []
    for (let i = start; i < Math.min(start + 200, from + count); i++) {
      batch.push(sign(privateKey, issuer, i, now))
    }
    out.push(...(await Promise.all(batch)))
  }
  return out
}

// Writes jwks.json, hot.txt (one token), cold.txt (coldCount distinct tokens, one a line) into
// dir and returns them with a forged token: same kid and claims, signed by a key the JWKS lacks.
export async function makeTokens(dir, { issuer, coldCount }) {
  const now = Math.floor(Date.now() / 1000)
  const real = await rsaKey()
  const other = await rsaKey()
  const jwk = { ...(await exportJWK(real.publicKey)), kid: KID, alg: 'RS256', use: 'sig' }
  const jwks = { keys: [jwk] }

  const [hot] = await signMany(real.privateKey, issuer, 0, 1, now)
  const cold = await signMany(real.privateKey, issuer, 1, coldCount, now)
  const [forged] = await signMany(other.privateKey, issuer, 0, 1, now)

  const files = {
    jwks: path.join(dir, 'jwks.json'),
    hot: path.join(dir, 'hot.txt'),
    cold: path.join(dir, 'cold.txt'),
  }
  await writeFile(files.jwks, JSON.stringify(jwks))
  await writeFile(files.hot, `${hot}\n`)
  await writeFile(files.cold, `${cold.join('\n')}\n`)
  return { files, hot, cold, forged, audience: AUDIENCE, hotUser: claimsFor(0).preferred_username }
}
