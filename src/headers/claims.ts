/**
 * Reads a claim by name or dotted path. A name that exists as a top-level claim wins over its
 * split form, because namespaced claims often contain dots (`https://example.com/groups`).
 * Array steps take a numeric index (`roles.0`). Prototype members are never read.
 */
export function readClaim(payload: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path]

  let value: unknown = payload
  for (const step of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, step)) {
      return undefined
    }
    value = (value as Record<string, unknown>)[step]
  }
  return value
}

/** The first of several claim paths that is present (not undefined or null). */
export function readFirstClaim(
  payload: Record<string, unknown>,
  paths: readonly string[],
): unknown {
  for (const path of paths) {
    const value = readClaim(payload, path)
    if (value !== undefined && value !== null) return value
  }
  return undefined
}
