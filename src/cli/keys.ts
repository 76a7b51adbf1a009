import { loadConfig } from '../config/index.js'
import { openKeyring, readKeyring } from '../keys/index.js'
import { UsageError } from './usage-error.js'

import { join } from 'node:path'

/** `jwtgate keys list|generate`: the gate's own signing keys in the data dir. */
export async function runKeys(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { config } = loadConfig(env)
  const [action] = args

  if (action === 'generate') {
    const { file, keyring, created } = await openKeyring(config.dataDir)
    const kid = keyring.keys.find((key) => key.state === 'active')?.kid
    console.log(created ? `created ${file} with key ${kid}` : `${file} already exists (key ${kid})`)
    return
  }
  if (action === 'list' || action === undefined) {
    const keyring = readKeyring(join(config.dataDir, 'keys.json'))
    if (!keyring) {
      console.log(`no keyring in ${config.dataDir}; "jwtgate keys generate" creates one`)
      return
    }
    for (const key of keyring.keys)
      console.log(`${key.kid}\t${key.alg}\t${key.state}\t${key.createdAt}`)
    return
  }
  throw new UsageError(`unknown keys action "${action}"; use list or generate`)
}
