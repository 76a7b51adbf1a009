import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Integration suites start real servers on loopback; two cores run them best one file at a time.
    fileParallelism: false,
  },
})
