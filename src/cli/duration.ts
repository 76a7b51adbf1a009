import { UsageError } from './usage-error.js'

/** Reads `90`, `90s`, `15m`, `12h` or `7d` as seconds. */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim())
  if (!match) throw new UsageError(`${flag} "${text}" is not a duration; example: ${flag} 15m`)
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd']
  return Number(match[1]) * unit
}
