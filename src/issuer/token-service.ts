import { CompactEncrypt, compactDecrypt } from 'jose'

import { hkdfSync, randomBytes, randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'

import { mintToken } from './mint.js'
import { OAuthError } from './oauth-error.js'
import type { Denylist } from '../denylist/index.js'
import type { Logger } from '../obs/logger.js'
import type { Signer } from './mint.js'
import type { AccessRevoker } from './revocation.js'
import type { HashLimiter } from './passwords.js'
import type { FailureLimiter, LimitRule } from './rate-limit.js'
import type { RefreshRecord, RefreshStore } from './refresh-store.js'
import type { User } from './users.js'

/** An OAuth 2.0 token response (RFC 6749 §5.1). */
export interface TokenSet {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
}

export interface TokenServiceOptions {
  issuer: string
  audience: string
  /** Seconds an access token lives. */
  accessTtl: number
  /** Seconds a refresh token lives unused. */
  refreshTtl: number
  /** Seconds a sign-in can be kept alive by refreshing. */
  sessionMaxAge: number
  signer: () => Promise<Signer>
  users: { get(username: string): User | undefined }
  refresh: RefreshStore
  failures: FailureLimiter
  denylist: Denylist
  hashes: HashLimiter
  passwords: {
    verify(password: string, encoded: string): Promise<boolean>
    verifyUnknownUser(password: string): Promise<false>
  }
  /** Revokes an access token from any trusted issuer (see createAccessRevoker). */
  revokeAccess: AccessRevoker
  audit: Logger
  now?: () => number
}

/** Failed sign-ins allowed per client address: at most ten a minute. */
export const IP_RULE: LimitRule = { max: 10, windowSeconds: 60 }
/** Failed sign-ins allowed per username before it is locked for the rest of five minutes. */
export const USER_RULE: LimitRule = { max: 5, windowSeconds: 300 }

/**
 * A used refresh token presented again this soon is a race between requests that carried the
 * same cookie (a dashboard fires dozens at once), not theft: they get the same new tokens.
 */
const REPLAY_GRACE_SECONDS = 10

const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/

/**
 * The issuer's grants: password and refresh_token (RFC 6749 §4.3, §6), and revocation
 * (RFC 7009). Refresh tokens are opaque, stored only as a derived id, rotated on every use; a
 * reuse outside the replay window ends the whole family and revokes its access tokens.
 */
export function createTokenService(options: TokenServiceOptions) {
  const now = () => (options.now ?? Date.now)() / 1000
  const inflight = new Map<string, Promise<TokenSet>>()
  const { audit } = options

  async function issue(user: User, family: string, familyStartedAt: number): Promise<TokenSet> {
    const issuedAt = Math.floor(now())
    const jti = randomUUID()
    const access = await mintToken(await options.signer(), {
      issuer: options.issuer,
      audience: options.audience,
      subject: user.username,
      ttlSeconds: options.accessTtl,
      issuedAt,
      jti,
      claims: {
        preferred_username: user.username,
        email: user.email,
        name: user.name,
        groups: user.groups,
        sid: family,
      },
    })
    const refresh = randomBytes(32).toString('base64url')
    const exp = Math.min(issuedAt + options.refreshTtl, familyStartedAt + options.sessionMaxAge)
    await options.refresh.save(refreshId(refresh), {
      family,
      sub: user.username,
      familyStartedAt,
      exp,
    })
    await options.refresh.addFamilyToken(family, jti, issuedAt + options.accessTtl)
    return {
      access_token: access,
      token_type: 'Bearer',
      expires_in: options.accessTtl,
      refresh_token: refresh,
    }
  }

  /** Ends a sign-in: its refresh tokens stop working and its access tokens are revoked. */
  async function endFamily(family: string, user: string, until: number, reason: string) {
    const minted = await options.refresh.endFamily(family, until)
    const by = { actor: `issuer:${reason}` }
    for (const { jti, exp } of minted) {
      if (exp > now()) await options.denylist.revokeToken(jti, exp, by)
    }
    audit.info({ event: 'session_ended', user, family, reason }, 'session ended')
  }

  function familyEnd(record: RefreshRecord): number {
    return record.familyStartedAt + options.sessionMaxAge
  }

  /** Waits for the winner of a refresh race to leave its sealed answer, then opens it. */
  async function replay(id: string, token: string, record: RefreshRecord, usedAt: number) {
    for (let waited = 0; waited < 2_000; waited += 100) {
      const result = await options.refresh.consume(id, now())
      if (result.status === 'reused' && result.successor) {
        return JSON.parse(await unseal(result.successor, token)) as TokenSet
      }
      await sleep(100)
    }
    audit.warn({ event: 'refresh_race_unresolved', user: record.sub, usedAt }, 'refresh race')
    return undefined
  }

  async function refreshOnce(token: string, clientIp: string): Promise<TokenSet> {
    const id = refreshId(token)
    const result = await options.refresh.consume(id, now())
    if (result.status === 'unknown') throw new OAuthError('invalid_grant', 'refresh token unknown')

    const { record } = result
    if (result.status === 'reused') {
      if (now() - result.usedAt <= REPLAY_GRACE_SECONDS) {
        const again = await replay(id, token, record, result.usedAt)
        if (again) return again
      }
      await endFamily(record.family, record.sub, familyEnd(record), 'refresh_token_reuse')
      audit.warn({ event: 'refresh_reuse', user: record.sub, ip: clientIp }, 'refresh token reused')
      throw new OAuthError('invalid_grant', 'refresh token already used')
    }

    const user = options.users.get(record.sub)
    if (await options.refresh.familyEnded(record.family)) {
      throw new OAuthError('invalid_grant', 'session ended')
    }
    if (familyEnd(record) <= now()) throw new OAuthError('invalid_grant', 'session too old')
    if (!user || user.disabled) {
      await endFamily(record.family, record.sub, familyEnd(record), 'user_gone')
      throw new OAuthError('invalid_grant', 'user no longer active')
    }
    const tokens = await issue(user, record.family, record.familyStartedAt)
    await options.refresh.setSuccessor(id, await seal(JSON.stringify(tokens), token))
    audit.info({ event: 'refresh', user: user.username, ip: clientIp }, 'tokens refreshed')
    return tokens
  }

  return {
    /** `grant_type=password`: checks limits, then the password, then opens a new family. */
    async passwordGrant(username: string, password: string, clientIp: string): Promise<TokenSet> {
      const userKey = `user:${username.toLowerCase()}`
      const ipKey = `ip:${clientIp}`
      const at = now() * 1000
      const [byIp, byUser] = await Promise.all([
        options.failures.check(ipKey, IP_RULE, at),
        options.failures.check(userKey, USER_RULE, at),
      ])
      if (byIp.blocked || byUser.blocked) {
        audit.info({ event: 'login', outcome: 'limited', user: username, ip: clientIp }, 'login')
        throw new OAuthError('slow_down', 'too many failed sign-ins', {
          retryAfter: Math.max(byIp.retryAfter, byUser.retryAfter),
        })
      }

      const user = options.users.get(username)
      const usable = user !== undefined && !user.disabled
      const valid = await options.hashes.run(() =>
        usable
          ? options.passwords.verify(password, user.passwordHash)
          : options.passwords.verifyUnknownUser(password),
      )
      if (!valid || !usable) {
        await Promise.all([
          options.failures.fail(ipKey, IP_RULE, at),
          options.failures.fail(userKey, USER_RULE, at),
        ])
        const code = !user ? 'unknown_user' : user.disabled ? 'user_disabled' : 'bad_password'
        audit.info(
          { event: 'login', outcome: 'failure', code, user: username, ip: clientIp },
          'login',
        )
        throw new OAuthError('invalid_grant', 'wrong username or password')
      }

      await options.failures.reset(userKey)
      const tokens = await issue(user, randomUUID(), Math.floor(now()))
      audit.info({ event: 'login', outcome: 'success', user: user.username, ip: clientIp }, 'login')
      return tokens
    },

    /** `grant_type=refresh_token`; concurrent uses of one token here share one answer. */
    refreshGrant(token: string, clientIp: string): Promise<TokenSet> {
      if (!REFRESH_TOKEN.test(token)) {
        return Promise.reject(new OAuthError('invalid_grant', 'refresh token malformed'))
      }
      let running = inflight.get(token)
      if (!running) {
        running = refreshOnce(token, clientIp).finally(() => inflight.delete(token))
        inflight.set(token, running)
      }
      return running
    },

    /**
     * RFC 7009: an access token goes to `revokeAccess`, and ends its sign-in when it is one of
     * ours; a refresh token ends its family. Unknown or invalid tokens change nothing.
     */
    async revoke(token: string, actor: string): Promise<void> {
      if (REFRESH_TOKEN.test(token)) {
        const record = await options.refresh.peek(refreshId(token))
        if (record) await endFamily(record.family, record.sub, familyEnd(record), 'revoked')
        return
      }
      const verified = await options.revokeAccess(token, actor)

      // One of our own access tokens names its sign-in: revoking it ends that whole session.
      const sid = verified?.payload.sid
      if (typeof sid === 'string' && verified!.issuer.policy.issuer === options.issuer) {
        await endFamily(sid, verified!.sub, Math.floor(now()) + options.sessionMaxAge, 'revoked')
      }
    },
  }
}

export type TokenService = ReturnType<typeof createTokenService>

/** The store id of a refresh token: derived, so the store never holds a usable token. */
export function refreshId(token: string): string {
  return Buffer.from(hkdfSync('sha256', token, '', 'jwtgate refresh id', 32)).toString('base64url')
}

/** The key that seals a token's successor: only a holder of the token can open it. */
function sealKey(token: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', token, '', 'jwtgate refresh seal', 32))
}

function seal(text: string, token: string): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(text))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
    .encrypt(sealKey(token))
}

async function unseal(sealed: string, token: string): Promise<string> {
  const { plaintext } = await compactDecrypt(sealed, sealKey(token))
  return new TextDecoder().decode(plaintext)
}
