import { describe, expect, it } from 'vitest'

import { safeRedirect } from '../../../src/http/redirect.js'

const BASE = 'https://grafana.example.com'
const policy = {
  allowedHosts: ['dashboards.example.com', '*.corp.example.com', 'metrics.example.com:8443'],
  defaultHosts: ['grafana.example.com'],
}
const check = (rd: string) => safeRedirect(rd, BASE, policy)

describe('safeRedirect', () => {
  it.each([
    ['/d/abc?orgId=1', 'https://grafana.example.com/d/abc?orgId=1'],
    ['https://grafana.example.com/explore', 'https://grafana.example.com/explore'],
    ['https://dashboards.example.com/', 'https://dashboards.example.com/'],
    ['https://team.corp.example.com/x', 'https://team.corp.example.com/x'],
    ['https://metrics.example.com:8443/a', 'https://metrics.example.com:8443/a'],
    ['HTTPS://GRAFANA.EXAMPLE.COM/D', 'https://grafana.example.com/D'],
    ['/%2F%2Fevil.com', 'https://grafana.example.com/%2F%2Fevil.com'],
  ])('follows %s', (rd, expected) => {
    expect(check(rd)).toBe(expected)
  })

  it.each([
    ['//evil.com'],
    ['///evil.com'],
    ['/\\evil.com'],
    ['\\\\evil.com'],
    ['https:\\\\evil.com'],
    ['https://evil.com'],
    ['https://grafana.example.com.evil.com/'],
    ['https://grafana.example.com@evil.com/'],
    ['https://user:pass@grafana.example.com/'],
    ['https://evilgrafana.example.com/'],
    ['https://corp.example.com/'],
    ['https://x.evilcorp.example.com.evil/'],
    ['https://metrics.example.com/'],
    ['https://metrics.example.com:9999/'],
    ['javascript:alert(1)'],
    ['data:text/html,<script>alert(1)</script>'],
    ['ftp://grafana.example.com/'],
    ['java\nscript:alert(1)'],
    ['/\t/evil.com'],
    ['https://evil.com\u0000.grafana.example.com/'],
    [' https://evil.com'],
    ['evil.com'],
    [''],
    ['/' + 'a'.repeat(5000)],
  ])('refuses %j', (rd) => {
    expect(check(rd)).toBeUndefined()
  })
})
