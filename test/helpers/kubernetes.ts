import ts from 'typescript'
import { parseAllDocuments } from 'yaml'

import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

import { REPO_ROOT } from './gate.js'

/** A rendered Kubernetes object, as plain data. */
export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; [key: string]: unknown }
  [key: string]: unknown
}

/**
 * Renders a kustomization with `kubectl kustomize` and returns its objects. `loadRestrictorNone`
 * lets it read files outside its own directory (the nginx overlay reads nginx/jwtgate.conf).
 */
export function renderKustomize(
  kubectl: string,
  dir: string,
  options: { loadRestrictorNone?: boolean } = {},
): KubeObject[] {
  const flags = options.loadRestrictorNone ? ['--load-restrictor', 'LoadRestrictionsNone'] : []
  const output = execFileSync(kubectl, ['kustomize', ...flags, join(REPO_ROOT, dir)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return parseAllDocuments(output)
    .map((document) => document.toJS() as KubeObject | null)
    .filter((object): object is KubeObject => object !== null)
}

/**
 * Packages holding models of custom resources, by API group. Their schemas come from the
 * projects' CRDs (Traefik's here), published in the npm registry like the core ones.
 */
const CRD_PACKAGES: Record<string, string> = {
  'traefik.io': '@kubernetes-models/traefik',
  'traefik.containo.us': '@kubernetes-models/traefik',
}

/** Where the model of `apiVersion`/`kind` lives: a module path and whether it is a CRD. */
export function modelModule(object: Pick<KubeObject, 'apiVersion' | 'kind'>): {
  module: string
  crd: boolean
} {
  const [group, version] = object.apiVersion.includes('/')
    ? object.apiVersion.split('/')
    : ['', object.apiVersion]
  const crdPackage = CRD_PACKAGES[group as string]
  if (crdPackage) return { module: `${crdPackage}/${object.apiVersion}/${object.kind}`, crd: true }
  // kubernetes-models puts the core group ("v1") at its top level, other groups under their name.
  const path = group === '' ? version : `${group}/${version}`
  return { module: `kubernetes-models/${path}/${object.kind}`, crd: false }
}

interface Model {
  apiVersion: string
  kind: string
  new (data: unknown): { validate(): void }
}

/**
 * Validates `object` with the JSON schema of exactly the API version and kind it names, as
 * compiled into kubernetes-models (Kubernetes' own OpenAPI) or a CRD package. Returns the
 * problems found, empty when valid. Unknown fields are not reported here (the OpenAPI schemas
 * allow them); see {@link findUnknownFields}.
 */
export async function validateObject(object: KubeObject): Promise<string[]> {
  const { module } = modelModule(object)
  let exports: Record<string, unknown>
  try {
    exports = (await import(module)) as Record<string, unknown>
  } catch {
    return [`no schema for ${object.apiVersion} ${object.kind} (looked for ${module})`]
  }
  const model = exports[object.kind] as Model | undefined
  if (model?.apiVersion !== object.apiVersion || model.kind !== object.kind) {
    return [`${module} does not model ${object.apiVersion} ${object.kind}`]
  }

  try {
    new model(object).validate()
    return []
  } catch (error) {
    const details = (error as { errors?: { instancePath: string; message?: string }[] }).errors
    if (!details) return [(error as Error).message]
    return details.map((detail) => `${detail.instancePath || '/'} ${detail.message ?? ''}`)
  }
}

/**
 * Reports fields that the API version's types do not define (a misspelled
 * `readOnlyRootFileSystem` would otherwise pass, and the API server would drop or refuse it),
 * like `kubeconform -strict`. Type-checks each object as an object literal against the model's
 * TypeScript interface: excess-property checks reach every nested object, though TypeScript
 * stops at the first unknown field of each object. Returns one line per problem, prefixed with
 * the object's kind and name.
 */
export function findUnknownFields(objects: KubeObject[]): string[] {
  if (objects.length === 0) return []
  const file = join(REPO_ROOT, 'test', '__kubernetes_fields__.ts')
  const lines = objects.flatMap((object, index) => {
    const { module } = modelModule(object)
    return [
      `import type { I${object.kind} as T${index} } from '${module}'`,
      `export const o${index}: T${index} = ${JSON.stringify(object)}`,
    ]
  })
  const source = lines.join('\n')

  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    types: [],
  }
  const host = ts.createCompilerHost(options)
  const readFile = host.readFile.bind(host)
  const fileExists = host.fileExists.bind(host)
  const getSourceFile = host.getSourceFile.bind(host)
  host.readFile = (name) => (name === file ? source : readFile(name))
  host.fileExists = (name) => name === file || fileExists(name)
  host.getSourceFile = (name, language, ...rest) =>
    name === file
      ? ts.createSourceFile(name, source, language)
      : getSourceFile(name, language, ...rest)

  const program = ts.createProgram([file], options, host)
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const line = diagnostic.file?.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line ?? 0
    const object = objects[Math.floor(line / 2)]
    const where = object ? `${object.kind}/${object.metadata.name}` : 'unknown object'
    return `${where}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`
  })
}

/** Every container of a pod template, init containers included, with its kind. */
export function podContainers(
  object: KubeObject,
): { name: string; init: boolean; spec: Record<string, any> }[] {
  const pod = (object.spec as any)?.template?.spec
  if (!pod) return []
  return [
    ...(pod.initContainers ?? []).map((spec: any) => ({ name: spec.name, init: true, spec })),
    ...(pod.containers ?? []).map((spec: any) => ({ name: spec.name, init: false, spec })),
  ]
}
