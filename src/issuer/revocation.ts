import type { Denylist } from '../denylist/index.js'
import type { Logger } from '../obs/logger.js'
import type { VerifiedToken } from '../verify/index.js'

export interface AccessRevokerOptions {
  /** Verifies an access token as the gate would (any trusted issuer). */
  verifyAccess: (token: string) => Promise<VerifiedToken>
  denylist: Denylist
  audit: Logger
  now?: () => number
}

/**
 * RFC 7009 for access tokens, whoever issued them: a token the gate would accept goes on the
 * denylist by `jti`, or, without one, by subject as of its `iat`. Returns what was revoked, or
 * undefined for a token the gate would refuse anyway (which needs no revoking).
 */
export function createAccessRevoker(options: AccessRevokerOptions) {
  const now = () => Math.floor((options.now ?? Date.now)() / 1000)
  return async (token: string, actor: string): Promise<VerifiedToken | undefined> => {
    let verified: VerifiedToken
    try {
      verified = await options.verifyAccess(token)
    } catch {
      return undefined
    }

    const by = { actor }
    if (verified.jti !== undefined) {
      await options.denylist.revokeToken(verified.jti, verified.exp, by)
    } else {
      await options.denylist.revokeSubject(verified.sub, verified.iat ?? now(), by)
    }
    const { sub, jti } = verified
    options.audit.info({ event: 'revoke', sub, jti, by: actor }, 'token revoked')
    return verified
  }
}

export type AccessRevoker = ReturnType<typeof createAccessRevoker>
