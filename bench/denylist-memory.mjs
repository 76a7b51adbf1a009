// Memory taken by the denylist's local copy: N live token revocations (UUID jtis, as the
// gate's own issuer mints them) and N/10 subject watermarks, measured as heap growth after a
// full GC, each size in a fresh process. Run after `npm run build`:
//   node bench/denylist-memory.mjs [N ...]
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'

const [mode, size] = process.argv.slice(2)

if (mode === '--measure') {
  const { LocalCopy } = await import('../dist/denylist/local-copy.js')
  const heap = () => {
    globalThis.gc()
    globalThis.gc()
    return process.memoryUsage().heapUsed
  }
  const n = Number(size)
  const until = Math.floor(Date.now() / 1000) + 3600
  const before = heap()
  const copy = new LocalCopy()
  // Entries arrive as JSON (from Redis or the journal), so they are parsed here the same way.
  const arrive = (entry) => copy.apply(JSON.parse(JSON.stringify(entry)))
  for (let i = 0; i < n; i++) arrive({ kind: 'jti', id: randomUUID(), until })
  for (let i = 0; i < n / 10; i++) {
    arrive({ kind: 'sub', id: `user-${i}@example.com`, before: until - 3600, until })
  }
  console.log(JSON.stringify({ n, entries: copy.size, bytes: heap() - before }))
} else {
  const sizes = process.argv.slice(2).map(Number)
  console.log('| live jti entries | subject entries | heap growth | bytes per entry |')
  console.log('| ---: | ---: | ---: | ---: |')
  for (const n of sizes.length > 0 ? sizes : [100_000, 1_000_000]) {
    const script = fileURLToPath(import.meta.url)
    const out = execFileSync(process.execPath, ['--expose-gc', script, '--measure', String(n)])
    const { entries, bytes } = JSON.parse(out.toString())
    console.log(
      `| ${n.toLocaleString('en')} | ${(n / 10).toLocaleString('en')} | ` +
        `${(bytes / 2 ** 20).toFixed(1)} MiB | ${Math.round(bytes / entries)} |`,
    )
  }
}
