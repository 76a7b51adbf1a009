import { readFirstClaim } from './claims.js'
import { encodeHeaderValue } from './encode.js'
import { GateError } from '../errors.js'
import type { HeaderEncoding } from './encode.js'
import type { IssuerPolicy, Role } from '../config/index.js'

/** The five identity header names, in the order `Identity.values` holds them. */
export const IDENTITY_HEADERS = [
  'X-WEBAUTH-USER',
  'X-WEBAUTH-EMAIL',
  'X-WEBAUTH-NAME',
  'X-WEBAUTH-GROUPS',
  'X-WEBAUTH-ROLE',
] as const

/** A verified token's identity, computed once per token and reused by every cached hit. */
export interface Identity {
  /** Encoded header values, in IDENTITY_HEADERS order; empty strings for absent claims. */
  readonly values: readonly [string, string, string, string, string]
  /** Every group, including those a comma keeps out of the header; for `?group=` and roles. */
  readonly groups: ReadonlySet<string>
  /** Groups left out of X-WEBAUTH-GROUPS because their name holds a comma. */
  readonly omittedGroups: number
}

const RANK: Record<Role, number> = { None: 0, Viewer: 1, Editor: 2, Admin: 3 }

/**
 * Maps verified claims to the identity headers. Throws ERR_TOKEN_CLAIM for a claim of the wrong
 * type and ERR_CLAIM_UNSAFE for a value that cannot travel in a header.
 */
export function mapIdentity(
  payload: Record<string, unknown>,
  policy: IssuerPolicy,
  encoding: HeaderEncoding,
): Identity {
  const user = textClaim(payload, policy.claims.user, 'user')
  const email = textClaim(payload, policy.claims.email, 'email')
  const name = textClaim(payload, policy.claims.name, 'name')
  const groups = groupsClaim(payload, policy.claims.groups)

  // Grafana splits X-WEBAUTH-GROUPS on commas, so a group named "a,b" would become two.
  const listed = groups.filter((group) => !group.includes(','))
  const role = pickRole(groups, policy)

  return {
    values: [
      encodeHeaderValue(user, encoding, 'user'),
      encodeHeaderValue(email, encoding, 'email'),
      encodeHeaderValue(name, encoding, 'name'),
      encodeHeaderValue(listed.join(','), encoding, 'groups'),
      role,
    ],
    groups: new Set(groups),
    omittedGroups: groups.length - listed.length,
  }
}

function textClaim(payload: Record<string, unknown>, paths: readonly string[], what: string) {
  const value = readFirstClaim(payload, paths)
  if (value === undefined || value === null) return ''
  if (typeof value !== 'string') {
    throw new GateError('ERR_TOKEN_CLAIM', `${what} claim is not a string`)
  }
  return value
}

function groupsClaim(payload: Record<string, unknown>, paths: readonly string[]): string[] {
  const value = readFirstClaim(payload, paths)
  if (value === undefined || value === null) return []
  if (typeof value === 'string') return [value]
  if (Array.isArray(value) && value.every((group) => typeof group === 'string')) {
    return value.filter((group) => group !== '')
  }
  throw new GateError('ERR_TOKEN_CLAIM', 'groups claim is not a string or an array of strings')
}

/** The highest role any group maps to, else the default role. */
export function pickRole(groups: readonly string[], policy: IssuerPolicy): Role {
  let best: Role | undefined
  for (const group of groups) {
    const role = policy.roleMap.get(group)
    if (role !== undefined && (best === undefined || RANK[role] > RANK[best])) best = role
  }
  return best ?? policy.defaultRole
}
