import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, Option } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { makeSessionStore, sessionFileName } from "../../../src/layers/SessionStoreLive.ts"

const tempState = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "session-store-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

describe("SessionStore", () => {
  it.scoped("remembers the last thread per agent and workspace, across store instances (plugin restarts)", () =>
    Effect.gen(function* () {
      const dir = yield* tempState
      const store = yield* makeSessionStore(dir)
      expect(yield* store.lastThread("agent a", "/ws")).toEqual(Option.none())
      yield* store.remember("agent a", "/ws", "t-1")
      yield* store.remember("agent a", "/ws", "t-2")
      yield* store.remember("agent a", "/other", "t-3")
      const restarted = yield* makeSessionStore(dir)
      expect(yield* restarted.lastThread("agent a", "/ws")).toEqual(Option.some("t-2"))
      expect(yield* restarted.lastThread("agent a", "/other")).toEqual(Option.some("t-3"))
      expect(yield* restarted.lastThread("agent b", "/ws")).toEqual(Option.none())
      const [record] = (yield* restarted.list()).records.filter((r) => r.workspace === "/ws")
      expect(record).toMatchObject({ agentId: "agent a", lastThreadId: "t-2" })
      expect(record!.threads.map((t) => t.threadId)).toEqual(["t-1", "t-2"])
    }))

  it.scoped("going back to an earlier thread makes it the last one without listing it twice", () =>
    Effect.gen(function* () {
      const store = yield* makeSessionStore(yield* tempState)
      yield* store.remember("a", "/ws", "t-1")
      yield* store.remember("a", "/ws", "t-2")
      yield* store.remember("a", "/ws", "t-1")
      expect(yield* store.lastThread("a", "/ws")).toEqual(Option.some("t-1"))
      const [record] = (yield* store.list()).records
      expect(record!.threads.map((t) => t.threadId)).toEqual(["t-1", "t-2"])
    }))

  it.scoped("a thread another plugin remembered meanwhile is seen, and kept when this one remembers the next", () =>
    Effect.gen(function* () {
      const dir = yield* tempState
      const ours = yield* makeSessionStore(dir)
      const theirs = yield* makeSessionStore(dir)
      yield* ours.remember("a", "/ws", "t-1")
      expect(yield* ours.lastThread("a", "/ws")).toEqual(Option.some("t-1"))
      yield* theirs.remember("a", "/ws", "t-2")
      expect(yield* ours.lastThread("a", "/ws")).toEqual(Option.some("t-2"))
      yield* ours.remember("a", "/ws", "t-3")
      const [record] = (yield* theirs.list()).records
      expect(record!.threads.map((t) => t.threadId)).toEqual(["t-1", "t-2", "t-3"])
    }))

  it.scoped("concurrent turns of many agents all keep their thread", () =>
    Effect.gen(function* () {
      const store = yield* makeSessionStore(yield* tempState)
      const agents = Array.from({ length: 30 }, (_, i) => `agent-${i}`)
      yield* Effect.forEach(agents, (a) => store.remember(a, "/ws", `thread-of-${a}`), { concurrency: "unbounded" })
      for (const a of agents) expect(yield* store.lastThread(a, "/ws")).toEqual(Option.some(`thread-of-${a}`))
      expect((yield* store.list()).records).toHaveLength(30)
    }))

  it.scoped("writes the record under the documented name and leaves no temp files behind", () =>
    Effect.gen(function* () {
      const dir = yield* tempState
      const store = yield* makeSessionStore(dir)
      yield* store.remember("a", "/ws", "t-1")
      expect(Fs.readdirSync(Path.join(dir, "sessions"))).toEqual([sessionFileName("a", "/ws")])
      expect(sessionFileName("a", "/ws")).toMatch(/^[0-9a-f]{64}\.json$/)
    }))

  it.scoped("a corrupt record is treated as no memory and replaced by the next thread", () =>
    Effect.gen(function* () {
      const dir = yield* tempState
      Fs.mkdirSync(Path.join(dir, "sessions"), { recursive: true })
      Fs.writeFileSync(Path.join(dir, "sessions", sessionFileName("a", "/ws")), "{ half a rec")
      const store = yield* makeSessionStore(dir)
      expect(yield* store.lastThread("a", "/ws")).toEqual(Option.none())
      expect(yield* store.list()).toMatchObject({ records: [], unreadable: [Path.join(dir, "sessions", sessionFileName("a", "/ws"))] })
      yield* store.remember("a", "/ws", "t-9")
      expect(yield* store.lastThread("a", "/ws")).toEqual(Option.some("t-9"))
    }))

  it.scoped("a record it cannot write is a warning that says what the file system said", () =>
    Effect.gen(function* () {
      const dir = yield* tempState
      // `sessions` is a file: the record's directory cannot be made.
      Fs.writeFileSync(Path.join(dir, "sessions"), "")
      const warnings: Array<string> = []
      const logger = Logger.make(({ message }) => void warnings.push(String(Array.isArray(message) ? message.join(" ") : message)))
      const store = yield* makeSessionStore(dir)
      yield* store.remember("a", "/ws", "t-1").pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      // Reading the old record fails the same way first; each warning names the file system's error.
      expect(warnings.some((w) => /^session memory: cannot remember thread t-1 of agent a: .*(EEXIST|ENOTDIR)/.test(w))).toBe(true)
      for (const w of warnings) expect(w).toMatch(/EEXIST|ENOTDIR/)
    }))
})
