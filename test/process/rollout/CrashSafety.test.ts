/**
 * A mutation SIGKILLed at random moments never leaves a mix: the rollout is always byte-for-byte
 * the old or the new file, and a killed run's temp file is cleaned by the next run.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { rewriteRollout } from "../../../src/core/rollout/RolloutRewrite.ts"
import { writeSyntheticRollout } from "../../unit/rollout/SyntheticRollout.ts"

const HERE = Path.dirname(fileURLToPath(import.meta.url))
const KILLS = 30

const sha = async (path: string) => Crypto.createHash("sha256").update(await Fs.readFile(path)).digest("hex")

let dir: string
let pristine: string
let work: string
let idsFile: string
let child: string
let oldHash: string
let newHash: string
const running = new Set<ChildProcess>()

const start = () => {
  const p = spawn(process.execPath, [child, work, idsFile], { stdio: ["ignore", "pipe", "pipe"] })
  running.add(p)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) => {
    let out = ""
    p.stdout!.on("data", (d: Buffer) => (out += d.toString()))
    p.on("exit", (code, signal) => {
      running.delete(p)
      resolve({ code, signal, out })
    })
  })
  const ready = new Promise<void>((resolve) => {
    const onData = (d: Buffer) => {
      if (d.toString().includes("ready")) {
        p.stdout!.off("data", onData)
        resolve()
      }
    }
    p.stdout!.on("data", onData)
  })
  return { p, ready, exited }
}

const tempFiles = async () => (await Fs.readdir(dir)).filter((n) => n.includes(".plexum-mutate."))

beforeAll(async () => {
  dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "rollout-crash-"))
  const source = Path.join(Os.tmpdir(), `${Path.basename(dir)}-pristine.jsonl`)
  pristine = source
  const synth = await writeSyntheticRollout(pristine, { targetBytes: 50 * 1024 * 1024, bigBytes: 1024 * 1024 })
  const ids = synth.calls.filter((_, i) => i % 9 === 0).map((c) => c.callId)
  idsFile = Path.join(Os.tmpdir(), `${Path.basename(dir)}-ids.json`)
  await Fs.writeFile(idsFile, JSON.stringify(ids))
  work = Path.join(dir, "rollout-2026-11-25T11-00-00-01a21277-0aee-7391-8f57-254533d12121.jsonl")
  // The expected new content, computed in-process on a copy.
  const expected = `${pristine}.expected`
  await Fs.copyFile(pristine, expected)
  await rewriteRollout(expected, ids.map((blockId) => ({ blockId, op: "heavy" as const })), "...(tool called)")
  oldHash = await sha(pristine)
  newHash = await sha(expected)
  await Fs.rm(expected)
  // A plain-JS child starts fast, so kills land inside the mutation rather than in start-up.
  const esbuild = await import("esbuild")
  child = Path.join(Os.tmpdir(), `${Path.basename(dir)}-child.mjs`)
  await esbuild.build({ entryPoints: [Path.join(HERE, "MutateChild.ts")], bundle: true, platform: "node", format: "esm", outfile: child, logLevel: "error" })
}, 120_000)

afterAll(async () => {
  for (const p of running) p.kill("SIGKILL")
  await Fs.rm(dir, { recursive: true, force: true })
  for (const f of [pristine, idsFile, child]) await Fs.rm(f, { force: true })
})

describe("rollout mutation crash safety", () => {
  it("is always exactly the old or the new file, whenever the writer is SIGKILLed", async () => {
    expect(newHash).not.toBe(oldHash)
    // How long one undisturbed run takes here, to spread the kills over all of it.
    await Fs.copyFile(pristine, work)
    const full = start()
    await full.ready
    const t0 = performance.now()
    const fullExit = await full.exited
    const span = performance.now() - t0
    expect(fullExit.out).toContain("done")
    expect(await sha(work)).toBe(newHash)

    const outcomes = { old: 0, new: 0 }
    for (let i = 0; i < KILLS; i++) {
      await Fs.copyFile(pristine, work)
      const run = start()
      await run.ready
      await new Promise((r) => setTimeout(r, Math.random() * span))
      run.p.kill("SIGKILL")
      await run.exited
      const hash = await sha(work)
      expect([oldHash, newHash]).toContain(hash)
      outcomes[hash === oldHash ? "old" : "new"]++
      // At most the killed run's own temp file; earlier ones were cleaned by the runs after them.
      expect((await tempFiles()).length).toBeLessThanOrEqual(1)
    }
    // A run that completes cleans the last leftover and leaves nothing of its own.
    await Fs.copyFile(pristine, work)
    const last = start()
    await last.ready
    expect((await last.exited).out).toContain("done")
    expect(await sha(work)).toBe(newHash)
    expect(await tempFiles()).toEqual([])
    console.log(`crash test: ${KILLS} kills, file old ${outcomes.old}×, new ${outcomes.new}×, one run ${span.toFixed(0)} ms`)
  }, 180_000)
})
