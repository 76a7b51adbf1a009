import {
  appendFileSync,
  closeSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { dirname } from 'node:path'

import { LocalCopy } from './local-copy.js'
import { describe, subjectRevocation, tokenRevocation } from './denylist.js'
import type { Logger } from '../obs/logger.js'
import type {
  Denylist,
  DenylistStatus,
  DenylistTimes,
  Revocation,
  RevocationActor,
  RevocationSubject,
} from './denylist.js'

export interface MemoryDenylistOptions extends DenylistTimes {
  /**
   * Append-only journal (JSON lines, mode 0600) that survives restarts and lets the CLI revoke
   * for a running gate. Without one, revocations live and die with the process.
   */
  journal?: string
  logger: Logger
  /** How often the journal is checked for lines other processes appended, in ms. */
  pollMs?: number
}

/**
 * The single-replica denylist: a local copy in memory, journaled to the data dir. A revocation
 * written by `jwtgate revoke` reaches a running gate within one poll interval.
 */
export class MemoryDenylist implements Denylist {
  private readonly copy = new LocalCopy()
  private readonly sweeper: NodeJS.Timeout
  private offset = 0
  private poller: NodeJS.Timeout | undefined

  constructor(private readonly options: MemoryDenylistOptions) {
    this.sweeper = setInterval(() => this.copy.sweep(Date.now()), 60_000)
    this.sweeper.unref()
  }

  async start(): Promise<void> {
    const { journal } = this.options
    if (!journal) return
    mkdirSync(dirname(journal), { recursive: true, mode: 0o700 })
    this.readJournal(journal)
    this.compact(journal)

    // Polling the size against what was read rather than fs.watch or fs.watchFile: it works on
    // volumes without inotify, and an append that lands before the first poll is not missed.
    this.poller = setInterval(() => this.readJournal(journal), this.options.pollMs ?? 500)
    this.poller.unref()
  }

  isRevoked(token: RevocationSubject, now: number): boolean {
    return this.copy.isRevoked(token, now)
  }

  fresh(): boolean {
    return true
  }

  async revokeToken(jti: string, exp: number, by: RevocationActor): Promise<void> {
    this.record(tokenRevocation(jti, exp, this.options), by)
  }

  async revokeSubject(sub: string, before: number, by: RevocationActor): Promise<void> {
    this.record(subjectRevocation(sub, before, this.options), by)
  }

  list(now: number): Revocation[] {
    return this.copy.list(now)
  }

  status(): DenylistStatus {
    return {
      store: 'memory',
      fresh: true,
      connected: true,
      entries: this.copy.size,
      syncAgeSeconds: 0,
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper)
    clearInterval(this.poller)
  }

  private record(entry: Revocation, by: RevocationActor): void {
    this.copy.apply(entry)
    if (this.options.journal) {
      appendFileSync(this.options.journal, `${JSON.stringify(entry)}\n`, { mode: 0o600 })
    }
    this.options.logger.info({ ...describe(entry), by: by.actor }, 'revoked')
  }

  /** Applies the lines appended since the last read. */
  private readJournal(journal: string): void {
    let fd: number
    try {
      fd = openSync(journal, 'r')
    } catch {
      return
    }
    try {
      const size = statSync(journal).size
      if (size < this.offset) this.offset = 0
      if (size === this.offset) return
      const buffer = Buffer.alloc(size - this.offset)
      readSync(fd, buffer, 0, buffer.length, this.offset)

      // Only whole lines count: a line still being written is read on the next poll.
      const text = buffer.toString('utf8')
      const end = text.lastIndexOf('\n') + 1
      this.offset += Buffer.byteLength(text.slice(0, end))
      for (const line of text.slice(0, end).split('\n')) this.applyLine(line)
    } finally {
      closeSync(fd)
    }
  }

  private applyLine(line: string): void {
    if (line.trim() === '') return
    try {
      const entry = JSON.parse(line) as Revocation
      if ((entry.kind === 'jti' || entry.kind === 'sub') && typeof entry.id === 'string') {
        this.copy.apply(entry)
        return
      }
    } catch {
      // Falls through to the warning below.
    }
    this.options.logger.warn({ journal: this.options.journal }, 'skipped a broken journal line')
  }

  /**
   * Rewrites the journal with only the live entries, at start-up.
   * Limitation: a `jwtgate revoke` that appends during the rename is lost from the journal
   * (not from the running gate); it matters only for a revocation made in that millisecond.
   */
  private compact(journal: string): void {
    const live = this.copy.list(Date.now())
    const temporary = `${journal}.${process.pid}.tmp`
    writeFileSync(temporary, live.map((entry) => `${JSON.stringify(entry)}\n`).join(''), {
      mode: 0o600,
    })
    renameSync(temporary, journal)
    this.offset = statSync(journal).size
  }
}
