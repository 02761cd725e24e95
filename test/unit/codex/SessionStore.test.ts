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

  describe("the file: a record, then a line per turn", () => {
    const fileOf = (dir: string) => Path.join(dir, "sessions", sessionFileName("a", "/ws"))
    const linesOf = (dir: string) => Fs.readFileSync(fileOf(dir), "utf8").split("\n").filter((l) => l !== "")
    const capture = () => {
      const warnings: Array<string> = []
      const logger = Logger.make(({ message }) => void warnings.push(String(Array.isArray(message) ? message.join(" ") : message)))
      return { warnings, layer: Logger.replace(Logger.defaultLogger, logger) }
    }

    it.scoped("a turn appends one line to the record, and the same inode holds them all", () =>
      Effect.gen(function* () {
        const dir = yield* tempState
        const store = yield* makeSessionStore(dir)
        yield* store.remember("a", "/ws", "t-1")
        const inode = Fs.statSync(fileOf(dir)).ino
        yield* store.remember("a", "/ws", "t-2")
        yield* store.remember("a", "/ws", "t-1")
        const lines = linesOf(dir)
        expect(lines).toHaveLength(3)
        expect(JSON.parse(lines[0]!)).toMatchObject({ agentId: "a", workspace: "/ws", lastThreadId: "t-1" })
        expect(lines.slice(1).map((l) => JSON.parse(l).threadId)).toEqual(["t-2", "t-1"])
        expect(Fs.statSync(fileOf(dir)).ino).toBe(inode)
        expect(Fs.statSync(fileOf(dir)).mode & 0o777).toBe(0o600)
        const restarted = yield* makeSessionStore(dir)
        expect(yield* restarted.lastThread("a", "/ws")).toEqual(Option.some("t-1"))
      }))

    it.scoped("a last line cut short by a crash is left out with a warning, and the next turn writes the file whole", () =>
      Effect.gen(function* () {
        const dir = yield* tempState
        const store = yield* makeSessionStore(dir)
        yield* store.remember("a", "/ws", "t-1")
        yield* store.remember("a", "/ws", "t-2")
        Fs.appendFileSync(fileOf(dir), '{"threadId":"t-3","a')
        const { warnings, layer } = capture()
        const restarted = yield* makeSessionStore(dir)
        expect(yield* restarted.lastThread("a", "/ws").pipe(Effect.provide(layer))).toEqual(Option.some("t-2"))
        yield* restarted.remember("a", "/ws", "t-4").pipe(Effect.provide(layer))
        yield* restarted.remember("a", "/ws", "t-4").pipe(Effect.provide(layer))
        // Said once, when the file was read: the turns after it do not repeat it.
        expect(warnings).toEqual([expect.stringMatching(/left out 1 line\(s\) of .*\.json that could not be read/)])
        yield* restarted.remember("a", "/ws", "t-4")
        // Written whole at the first turn after it: the new turn is not glued to the cut line.
        expect(linesOf(dir)).toHaveLength(3)
        const record = JSON.parse(linesOf(dir)[0]!)
        expect(record.lastThreadId).toBe("t-4")
        expect(record.threads.map((t: { threadId: string }) => t.threadId)).toEqual(["t-1", "t-2", "t-4"])
      }))

    it.scoped("a record written before the turn lines is read: one line is added to, an indented one (or one without its newline) rewritten", () =>
      Effect.gen(function* () {
        const dir = yield* tempState
        const record = { agentId: "a", workspace: "/ws", lastThreadId: "t-1", threads: [{ threadId: "t-1", startedAt: "2026-01-01T00:00:00.000Z", lastTurnAt: "2026-01-01T00:00:00.000Z" }] }
        const cases: Array<[string, number]> = [[`${JSON.stringify(record)}\n`, 2], [JSON.stringify(record), 1], [`${JSON.stringify(record, null, 2)}\n`, 1]]
        for (const [text, linesAfter] of cases) {
          Fs.mkdirSync(Path.join(dir, "sessions"), { recursive: true })
          Fs.writeFileSync(fileOf(dir), text)
          const store = yield* makeSessionStore(dir)
          expect(yield* store.lastThread("a", "/ws")).toEqual(Option.some("t-1"))
          yield* store.remember("a", "/ws", "t-2")
          expect(linesOf(dir)).toHaveLength(linesAfter)
          const [restored] = (yield* (yield* makeSessionStore(dir)).list()).records
          expect(restored!.lastThreadId).toBe("t-2")
          expect(restored!.threads.map((t) => t.threadId)).toEqual(["t-1", "t-2"])
        }
      }))

    it.scoped("two plugins taking turns on one record see each other's turns, in order, without a warning", () =>
      Effect.gen(function* () {
        const dir = yield* tempState
        const ours = yield* makeSessionStore(dir)
        const theirs = yield* makeSessionStore(dir)
        const { warnings, layer } = capture()
        for (let i = 0; i < 6; i++) {
          const store = i % 2 === 0 ? ours : theirs
          yield* store.remember("a", "/ws", `t-${i}`).pipe(Effect.provide(layer))
          expect(yield* (i % 2 === 0 ? theirs : ours).lastThread("a", "/ws").pipe(Effect.provide(layer))).toEqual(Option.some(`t-${i}`))
        }
        yield* ours.remember("a", "/ws", "t-1").pipe(Effect.provide(layer))
        const [record] = (yield* theirs.list()).records
        expect(record!.lastThreadId).toBe("t-1")
        expect(record!.threads.map((t) => t.threadId)).toEqual(["t-0", "t-1", "t-2", "t-3", "t-4", "t-5"])
        expect(linesOf(dir)).toHaveLength(7)
        expect(warnings).toEqual([])
      }))

    it.scoped("a record that is a symlink is not appended through: it is written whole, with a warn, as a file of its own", () =>
      Effect.gen(function* () {
        const dir = yield* tempState
        const store = yield* makeSessionStore(dir)
        yield* store.remember("a", "/ws", "t-1")
        const elsewhere = Path.join(dir, "elsewhere.json")
        Fs.renameSync(fileOf(dir), elsewhere)
        Fs.symlinkSync(elsewhere, fileOf(dir))
        const before = Fs.readFileSync(elsewhere, "utf8")
        const { warnings, layer } = capture()
        yield* store.remember("a", "/ws", "t-2").pipe(Effect.provide(layer))
        expect(warnings).toEqual([expect.stringMatching(/cannot add to the record .*, writing it whole: .*ELOOP/)])
        expect(Fs.lstatSync(fileOf(dir)).isFile()).toBe(true)
        expect(Fs.readFileSync(elsewhere, "utf8")).toBe(before)
        expect(yield* (yield* makeSessionStore(dir)).lastThread("a", "/ws")).toEqual(Option.some("t-2"))
      }))

    it.scoped("a long file is written whole again, and a record keeps its newest 200 threads", () =>
      Effect.gen(function* () {
        const dir = yield* tempState
        const store = yield* makeSessionStore(dir)
        for (let i = 0; i < 600; i++) yield* store.remember("a", "/ws", `t-${i}`)
        expect(linesOf(dir).length).toBeLessThanOrEqual(256)
        const restarted = yield* makeSessionStore(dir)
        const [record] = (yield* restarted.list()).records
        expect(record!.lastThreadId).toBe("t-599")
        expect(record!.threads).toHaveLength(200)
        expect(record!.threads[0]!.threadId).toBe("t-400")
      }))

    it.scoped("a file another plugin replaced after this one read it is read again before the next turn is added", () =>
      Effect.gen(function* () {
        const dir = yield* tempState
        const ours = yield* makeSessionStore(dir)
        yield* ours.remember("a", "/ws", "t-1")
        // Another plugin writes the file whole (its own read saw a cut line, say).
        const theirs = { agentId: "a", workspace: "/ws", lastThreadId: "t-9", threads: [{ threadId: "t-9", startedAt: "x", lastTurnAt: "x" }] }
        const tmp = `${fileOf(dir)}.other`
        Fs.writeFileSync(tmp, `${JSON.stringify(theirs)}\n`)
        Fs.renameSync(tmp, fileOf(dir))
        yield* ours.remember("a", "/ws", "t-2")
        const [record] = (yield* (yield* makeSessionStore(dir)).list()).records
        expect(record!.threads.map((t) => t.threadId)).toEqual(["t-9", "t-2"])
      }))
  })
})
