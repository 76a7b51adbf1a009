import {
  DockerfileParser,
  JSONInstruction,
  ModifiableInstruction,
  PropertyInstruction,
} from 'dockerfile-ast'

import type { Instruction } from 'dockerfile-ast'

/** One `COPY`: its sources, destination, and the stage it copies from (none: the context). */
export interface CopyStep {
  from: string | undefined
  sources: string[]
  destination: string
}

/** One `FROM ... [AS name]` and what follows it up to the next `FROM`. */
export interface Stage {
  name: string | undefined
  instructions: Instruction[]
}

/** What the last stage of a Dockerfile sets up: the image that runs. */
export interface RuntimeImage {
  env: Record<string, string>
  workdir: string | undefined
  user: string | undefined
  volumes: string[]
  copies: CopyStep[]
  entrypoint: string[]
  cmd: string[]
  healthcheck: boolean
}

/** Splits a Dockerfile into its build stages, in order. */
export function readStages(content: string): Stage[] {
  const stages: Stage[] = []
  for (const instruction of DockerfileParser.parse(content).getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const args = instruction.getArguments().map((arg) => arg.getValue())
      const as = args.findIndex((arg) => arg.toUpperCase() === 'AS')
      stages.push({ name: as >= 0 ? args[as + 1] : undefined, instructions: [] })
    } else {
      stages.at(-1)?.instructions.push(instruction)
    }
  }
  return stages
}

/**
 * Reads the runtime settings of the final stage. ENTRYPOINT and CMD must use the JSON (exec)
 * form: the shell form would put `sh -c` in front and change how signals reach node.
 */
export function readRuntimeImage(content: string): RuntimeImage {
  const final = readStages(content).at(-1)
  if (final === undefined) throw new Error('the Dockerfile has no FROM')

  const image: RuntimeImage = {
    env: {},
    workdir: undefined,
    user: undefined,
    volumes: [],
    copies: [],
    entrypoint: [],
    cmd: [],
    healthcheck: false,
  }
  for (const instruction of final.instructions) applyInstruction(image, instruction)
  return image
}

function applyInstruction(image: RuntimeImage, instruction: Instruction): void {
  const args = (): string[] => instruction.getArguments().map((arg) => arg.getValue())
  switch (instruction.getKeyword()) {
    case 'ENV':
      if (!(instruction instanceof PropertyInstruction)) return
      for (const property of instruction.getProperties()) {
        image.env[property.getName()] = property.getValue() ?? ''
      }
      return
    case 'WORKDIR':
      image.workdir = args()[0]
      return
    case 'USER':
      image.user = args()[0]
      return
    case 'VOLUME':
      image.volumes.push(...execForm(instruction, true))
      return
    case 'COPY':
      image.copies.push(readCopy(instruction))
      return
    case 'ENTRYPOINT':
      image.entrypoint = execForm(instruction)
      return
    case 'CMD':
      image.cmd = execForm(instruction)
      return
    case 'HEALTHCHECK':
      image.healthcheck = args()[0]?.toUpperCase() !== 'NONE'
  }
}

function execForm(instruction: Instruction, allowPlain = false): string[] {
  const strings = instruction instanceof JSONInstruction ? instruction.getJSONStrings() : []
  if (strings.length > 0) return strings.map((string) => string.getJSONValue())
  if (allowPlain) return instruction.getArguments().map((arg) => arg.getValue())
  throw new Error(`${instruction.getKeyword()} must use the JSON form: ${instruction.toString()}`)
}

function readCopy(instruction: Instruction): CopyStep {
  const flags = instruction instanceof ModifiableInstruction ? instruction.getFlags() : []
  const from = flags.find((flag) => flag.getName() === 'from')?.getValue()
  const args = instruction.getArguments().map((arg) => arg.getValue())
  return { from: from ?? undefined, sources: args.slice(0, -1), destination: args.at(-1) ?? '' }
}

/**
 * Whether `.dockerignore` keeps `path` (relative to the context, `/`-separated) out of the
 * build context. Follows Docker's rules for the patterns it supports: the last matching line
 * wins, `!` re-includes, a pattern that matches a parent directory matches what is inside it,
 * `*` stays within one path segment and `**` spans any number of them.
 */
export function isIgnored(dockerignore: string, path: string): boolean {
  const patterns = dockerignore
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))

  let ignored = false
  for (const line of patterns) {
    const include = line.startsWith('!')
    const pattern = (include ? line.slice(1) : line).replace(/^\/+|\/+$/g, '')
    if (matchesSelfOrParent(pattern, path)) ignored = !include
  }
  return ignored
}

function matchesSelfOrParent(pattern: string, path: string): boolean {
  const regex = globToRegExp(pattern)
  const segments = path.split('/')
  return segments.some((_, index) => regex.test(segments.slice(0, index + 1).join('/')))
}

function globToRegExp(pattern: string): RegExp {
  let source = ''
  for (let i = 0; i < pattern.length; i += 1) {
    const char = pattern[i] as string
    if (char === '*' && pattern[i + 1] === '*') {
      source += '.*'
      i += 1
    } else if (char === '*') source += '[^/]*'
    else if (char === '?') source += '[^/]'
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${source}$`)
}
