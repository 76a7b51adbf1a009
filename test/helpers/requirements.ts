import { describe, it } from 'vitest'

import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'

/** Searched after PATH: Debian installs servers in sbin, often outside a user's PATH. */
export const EXTRA_BINARY_PATHS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin']

/** Debian packages whose name differs from the binary they provide. */
const PACKAGES: Record<string, string> = { 'redis-cli': 'redis-tools' }

/**
 * Finds an executable file called `name` on PATH, then in `extraPaths`, and returns its absolute
 * path, or `undefined` when there is none. A `name` containing a slash is checked as it is.
 */
export function findBinary(
  name: string,
  extraPaths: string[] = EXTRA_BINARY_PATHS,
): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined

  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...extraPaths].filter(Boolean)
  for (const dir of dirs) {
    const candidate = join(dir, name)
    if (isExecutable(candidate)) return candidate
  }
  return undefined
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}

/** Either the binary's path, or a one-line reason to skip, with the command that installs it. */
export type BinaryRequirement = { path: string } | { skip: string }

/** Looks a binary up with {@link findBinary} and says how to install it when it is missing. */
export function requireBinary(name: string): BinaryRequirement {
  const path = findBinary(name)
  if (path !== undefined) return { path }
  return { skip: `${name} not installed (apt-get install ${PACKAGES[name] ?? name})` }
}

/**
 * Registers `describe(title, ...)` when `name` is installed, passing its path to `fn`. When it is
 * missing the suite is skipped with the install hint as its title, unless
 * `REQUIRE_ALL_SUITES=1` is set (CI), where a skipped suite would hide an untested
 * server: then a failing test names the missing binary instead.
 */
export function describeWithBinary(name: string, title: string, fn: (path: string) => void): void {
  const requirement = requireBinary(name)
  if ('path' in requirement) {
    describe(title, () => fn(requirement.path))
    return
  }

  if (process.env.REQUIRE_ALL_SUITES === '1') {
    describe(title, () => {
      it(`finds ${name}, which REQUIRE_ALL_SUITES=1 requires`, () => {
        throw new Error(`${requirement.skip}; REQUIRE_ALL_SUITES=1 forbids skipping`)
      })
    })
    return
  }

  describe.skip(`${title}: ${requirement.skip}`, () => fn(''))
}
