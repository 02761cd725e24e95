/** Small helpers shared by the rollout tests: temp dirs, fixtures, byte-level line splitting. */
import { afterAll } from "@effect/vitest"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

export const FIXTURES = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../fixtures/rollouts")
export const HOSTILE = Path.join(FIXTURES, "hostile", "hostile.jsonl")
export const RECORDED_TWO_TURNS = Path.join(FIXTURES, "hostile", "codex-0.169-two-turns.jsonl")
export const MARKER = "...(tool called)"

const made: Array<string> = []
// Registered in the importing test file: its temp dirs go when it ends.
afterAll(async () => {
  for (const dir of made.splice(0)) await Fs.rm(dir, { recursive: true, force: true })
})

export const tempDir = async () => {
  const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "rollout-test-"))
  made.push(dir)
  return dir
}

/** Copies a fixture into a fresh temp dir under a codex-style name; returns the copy's path. */
export const copyFixture = async (fixture: string, threadId = "0199aaaa-bbbb-7ccc-8ddd-eeeeffff0001") => {
  const dir = await tempDir()
  const path = Path.join(dir, `rollout-2026-11-25T10-00-00-${threadId}.jsonl`)
  await Fs.copyFile(fixture, path)
  return path
}

/** The file's lines as raw byte buffers, `\n` excluded (a trailing incomplete line included). */
export const rawLines = (bytes: Buffer): Array<Buffer> => {
  const out: Array<Buffer> = []
  let start = 0
  for (let nl = bytes.indexOf(10); nl !== -1; nl = bytes.indexOf(10, start)) {
    out.push(bytes.subarray(start, nl))
    start = nl + 1
  }
  if (start < bytes.length) out.push(bytes.subarray(start))
  return out
}

/** Every key path of a JSON value in document order, to compare key order of two lines. */
export const keyPaths = (value: unknown, prefix = ""): Array<string> => {
  if (Array.isArray(value)) return value.flatMap((v, i) => keyPaths(v, `${prefix}[${i}]`))
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => [`${prefix}.${k}`, ...keyPaths(v, `${prefix}.${k}`)])
  }
  return []
}
