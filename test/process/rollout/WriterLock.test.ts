/**
 * session/mutate honours codex's own writer lock (PROTOCOL.md §5): `$CODEX_HOME/thread-writer-locks/
 * <threadId>.lock`, an exclusive flock every codex process holds while it writes the thread. Here the
 * holder is a plain `flock` process; test/e2e/WriterLockCodex.test.ts uses a real codex.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { acquireWriterLock, writerLockPath } from "../../../src/core/codex/CodexWriterLock.ts"
import { makeRolloutStore } from "../../../src/layers/RolloutStoreLive.ts"
import { copyFixture, MARKER, RECORDED_TWO_TURNS } from "../../unit/rollout/RolloutTestKit.ts"

const HERE = Path.dirname(fileURLToPath(import.meta.url))
const THREAD = "0199aaaa-bbbb-7ccc-8ddd-eeeeffff0001"

/** A CODEX_HOME holding the recorded rollout of THREAD (under a codex-style name). */
const home = async () => {
  const path = await copyFixture(RECORDED_TWO_TURNS, THREAD)
  return { codexHome: Path.dirname(path), path }
}

/** Whether someone holds an exclusive flock on `file` (a non-blocking try fails). */
const isLocked = (file: string) => spawnSync("flock", ["-x", "-n", "-E", "75", file, "true"]).status === 75

/** `flock -x FILE cat`: holds the lock until its stdin closes. */
const holdWithFlock = async (file: string) => {
  await Fs.mkdir(Path.dirname(file), { recursive: true })
  const p = spawn("flock", ["-x", file, "cat"], { stdio: ["pipe", "ignore", "ignore"] })
  while (!isLocked(file)) await new Promise((r) => setTimeout(r, 10))
  return {
    end: () => new Promise<void>((resolve) => (p.exitCode !== null ? resolve() : (p.on("exit", () => resolve()), p.stdin!.end())))
  }
}

const mutateOnce = (codexHome: string, path: string, waitMs: number) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const store = yield* makeRolloutStore({ codexHome }, { writerLockWaitMs: waitMs })
      return yield* store.mutate(path, [{ blockId: "call_A1", op: "light" }], MARKER).pipe(Effect.either)
    })
  )

/** A process holding `file` open for append (as a resuming codex does before it takes its lock), until ended. */
const holdOpenForAppend = async (file: string) => {
  const p = spawn(process.execPath, ["-e", `require("fs").openSync(${JSON.stringify(file)}, "a"); process.stdout.write("open"); setInterval(() => {}, 1 << 30)`], {
    stdio: ["ignore", "pipe", "ignore"]
  })
  await new Promise((r) => p.stdout!.once("data", r))
  return { end: () => new Promise<void>((resolve) => (p.on("exit", () => resolve()), p.kill("SIGKILL"))) }
}

describe("a writer without the lock", () => {
  it("a process holding the rollout open for writing (no writer lock yet) gets the rewrite refused, then it applies", async () => {
    const { codexHome, path } = await home()
    await Fs.mkdir(Path.join(codexHome, "thread-writer-locks"), { recursive: true })
    const writer = await holdOpenForAppend(path)
    try {
      const before = await Fs.readFile(path)
      const refused = await mutateOnce(codexHome, path, 300)
      expect(refused._tag === "Left" && refused.left).toMatchObject({ _tag: "ThreadInUse" })
      expect(refused._tag === "Left" && refused.left.message).toContain("open for writing")
      expect((await Fs.readFile(path)).equals(before)).toBe(true)
    } finally {
      await writer.end()
    }
    expect(await mutateOnce(codexHome, path, 300)).toMatchObject({ _tag: "Right", right: { touched: 1, missing: [] } })
  })

  it("a reader does not count as a writer", async () => {
    const { codexHome, path } = await home()
    const reader = spawn(process.execPath, ["-e", `require("fs").openSync(${JSON.stringify(path)}, "r"); process.stdout.write("open"); setInterval(() => {}, 1 << 30)`], {
      stdio: ["ignore", "pipe", "ignore"]
    })
    await new Promise((r) => reader.stdout!.once("data", r))
    try {
      expect(await mutateOnce(codexHome, path, 300)).toMatchObject({ _tag: "Right", right: { touched: 1 } })
    } finally {
      reader.kill("SIGKILL")
    }
  })
})

describe("codex's writer lock", () => {
  it("a mutation waits for another holder, then fails ThreadInUse changing nothing; after the holder ends it applies", async () => {
    const { codexHome, path } = await home()
    const lock = writerLockPath(codexHome, THREAD)
    const holder = await holdWithFlock(lock)
    const before = await Fs.readFile(path)
    const inode = (await Fs.stat(path)).ino
    const refused = await mutateOnce(codexHome, path, 300)
    expect(refused._tag).toBe("Left")
    expect(refused._tag === "Left" && refused.left).toMatchObject({ _tag: "ThreadInUse", threadId: THREAD })
    expect((await Fs.readFile(path)).equals(before)).toBe(true)
    expect((await Fs.stat(path)).ino).toBe(inode)
    await holder.end()
    const applied = await mutateOnce(codexHome, path, 300)
    expect(applied).toMatchObject({ _tag: "Right", right: { touched: 1, missing: [] } })
    // The lock file was there before (the holder made it): it stays, unlocked.
    await expect(Fs.stat(lock)).resolves.toBeTruthy()
    expect(isLocked(lock)).toBe(false)
  })

  it("a holder that lets go within the wait is waited for", async () => {
    const { codexHome, path } = await home()
    const holder = await holdWithFlock(writerLockPath(codexHome, THREAD))
    const mutation = mutateOnce(codexHome, path, 10_000)
    await new Promise((r) => setTimeout(r, 300))
    await holder.end()
    expect(await mutation).toMatchObject({ _tag: "Right", right: { touched: 1 } })
  })

  it("held while taken, and a lock file it created is gone afterwards (codex's .coordination.lock stays, as codex leaves it)", async () => {
    const { codexHome } = await home()
    const lock = writerLockPath(codexHome, THREAD)
    await Fs.mkdir(Path.dirname(lock)) // a home some codex ≥ 0.151 has written in
    const held = await acquireWriterLock(codexHome, THREAD, 1_000)
    expect(isLocked(lock)).toBe(true)
    // A second taker in this process is refused too (flock is per open file, not per process).
    await expect(acquireWriterLock(codexHome, THREAD, 200)).rejects.toMatchObject({ threadId: THREAD })
    await held.release()
    await expect(Fs.stat(lock)).rejects.toMatchObject({ code: "ENOENT" })
    expect((await Fs.readdir(Path.dirname(lock))).sort()).toEqual([".coordination.lock"])
  })

  it("creates nothing in a home no locking codex ever used (codex < 0.151), and still mutates", async () => {
    const { codexHome, path } = await home()
    expect(await mutateOnce(codexHome, path, 300)).toMatchObject({ _tag: "Right", right: { touched: 1 } })
    await expect(Fs.stat(Path.join(codexHome, "thread-writer-locks"))).rejects.toMatchObject({ code: "ENOENT" })
  })

  it("dies with its owner: a SIGKILLed holder leaves no process and no lock", async () => {
    const { codexHome } = await home()
    await Fs.mkdir(Path.join(codexHome, "thread-writer-locks"))
    const esbuild = await import("esbuild")
    const child = Path.join(Os.tmpdir(), `writer-lock-child-${process.pid}.mjs`)
    await esbuild.build({ entryPoints: [Path.join(HERE, "WriterLockChild.ts")], bundle: true, platform: "node", format: "esm", outfile: child, logLevel: "error" })
    const p: ChildProcess = spawn(process.execPath, [child, codexHome, THREAD], { stdio: ["ignore", "pipe", "inherit"] })
    await new Promise<void>((resolve) => p.stdout!.on("data", (d: Buffer) => d.toString().includes("held") && resolve()))
    const lock = writerLockPath(codexHome, THREAD)
    expect(isLocked(lock)).toBe(true)
    // No helper process stays behind while the lock is held: the lock lives on the owner's descriptor.
    const children = spawnSync("pgrep", ["-P", String(p.pid)], { encoding: "utf8" }).stdout.trim()
    expect(children).toBe("")
    p.kill("SIGKILL")
    await new Promise((r) => p.on("exit", r))
    expect(isLocked(lock)).toBe(false)
    await Fs.rm(child, { force: true })
  })
})
