import { GateError } from '../errors.js'
import type { Identity } from '../headers/index.js'

/** What one proxy location asks of a caller beyond a valid token. */
export interface LocationPolicy {
  /** The caller must be in at least one of these groups; empty means no group rule. */
  readonly anyGroup: readonly string[]
}

const OPEN: LocationPolicy = Object.freeze({ anyGroup: [] })

/**
 * Reads the policy from an auth URL's query: `?group=a&group=b` and `?group=a,b` both mean
 * "member of any". Other parameters are ignored, because Caddy can pass the original
 * request's query through to the auth call.
 */
export function parseLocationPolicy(url: string): LocationPolicy {
  const mark = url.indexOf('?')
  if (mark < 0) return OPEN

  const anyGroup = new URLSearchParams(url.slice(mark + 1))
    .getAll('group')
    .flatMap((value) => value.split(','))
    .map((group) => group.trim())
    .filter((group) => group !== '')
  return anyGroup.length === 0 ? OPEN : { anyGroup }
}

/** Throws ERR_POLICY_DENIED when the identity does not meet the location's policy. */
export function checkPolicy(policy: LocationPolicy, identity: Identity): void {
  if (policy.anyGroup.length === 0) return
  for (const group of policy.anyGroup) if (identity.groups.has(group)) return
  throw new GateError('ERR_POLICY_DENIED', 'caller is in none of the required groups')
}
