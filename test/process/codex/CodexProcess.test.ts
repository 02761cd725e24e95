import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Fiber, HashSet, Stream } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { forEachChunk } from "../../../src/core/StreamPull.ts"
import { makeCodexProcess } from "../../../src/layers/CodexProcessLive.ts"
import { makeProcessGroups } from "../../../src/layers/ProcessGroupsLive.ts"
import { startForkServer } from "../../../src/core/ForkServer.ts"
import { helperPath } from "../../../src/core/HelperCommands.ts"
import type { CodexProcessShape } from "../../../src/services/CodexProcess.ts"
import type { ProcessGroupsShape } from "../../../src/services/ProcessGroups.ts"
import type { CodexEvent } from "../../../src/schemas/CodexEvent.ts"
import { isRunning } from "../../support/Processes.ts"

const FAKE = Path.join(import.meta.dirname, "../../fixtures/fake-codex/fake-codex.mjs")

const runningDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "codex-process-test-"))
const groups = makeProcessGroups({ runningDir })
// Every test runs twice: codex started by node's spawn (a fork of the plugin), and by the fork
// server (src/core/ForkServer.ts), which the plugin uses wherever perl is.
const forkServer = await startForkServer(helperPath("perl")!)
const ways: ReadonlyArray<readonly [string, CodexProcessShape]> = [
  ["node's spawn", makeCodexProcess(groups)],
  ["the fork server", makeCodexProcess(groups, { forkServer: Effect.succeed(forkServer) })]
]
let codex: CodexProcessShape = ways[0]![1]
afterAll(() => {
  forkServer.close()
  Fs.rmSync(runningDir, { recursive: true, force: true })
})

const spec = (mode: string, extra: Partial<{ binary: string; stdin: string; env: Record<string, string>; args: Array<string> }> = {}) => ({
  binary: extra.binary ?? FAKE,
  args: extra.args ?? [],
  cwd: Os.tmpdir(),
  env: { ...process.env, FAKE_CODEX_MODE: mode, ...extra.env },
  stdin: extra.stdin ?? "the prompt"
})

/** codex's own events; a run that ends cleanly ends with `<exited>`, checked here and left out. */
const collect = (s: ReturnType<typeof spec>) =>
  codex.run(s).pipe(
    Stream.runCollect,
    Effect.map(Chunk.toArray),
    Effect.tap((events) => expect(events.at(-1)).toMatchObject({ type: "<exited>", status: 0, signal: null })),
    Effect.map((events) => events.slice(0, -1))
  )

const running = isRunning

/** How many of a chunk's events codex printed (the closing `<exited>` is the plugin's). */
const codexEvents = (chunk: Chunk.Chunk<CodexEvent>) => Chunk.toArray(chunk).filter((e) => e.type !== "<exited>").length

const pidsOf = (events: ReadonlyArray<CodexEvent>): Array<number> => {
  const e = events.find((e) => e.type === "<unknown>" && e.eventType === "fake.pids")
  return e?.type === "<unknown>" ? (e.raw.pids as Array<number>) : []
}

/** Reads the stream until the fake reports its pids, then stops consuming (as a cancel would). */
const startThenStop = (mode: string) =>
  codex.run(spec(mode)).pipe(
    Stream.takeUntil((e) => e.type === "<unknown>" && e.eventType === "fake.pids"),
    Stream.runCollect,
    Effect.map((c) => pidsOf(Chunk.toArray(c)))
  )

for (const [way, shape] of ways) describe(`CodexProcess, started by ${way}`, () => {
  // Tests in a file run one after another, in order: this describe's tests run with `shape`.
  beforeAll(() => {
    codex = shape
  })
  it.live("streams the decoded events; the prompt reaches codex on stdin, args as given", () =>
    Effect.gen(function* () {
      const events = yield* collect(spec("ok", { stdin: "fix the bug ✓", args: ["exec", "--json", "-"] }))
      expect(events.map((e) => e.type)).toEqual(["<unknown>", "thread.started", "turn.started", "item.completed", "turn.completed"])
      expect(events[0]).toMatchObject({ raw: { argv: ["exec", "--json", "-"] } })
      expect(events[3]).toMatchObject({ item: { type: "agent_message", text: "fix the bug ✓" } })
    }))

  it.live("a missing binary fails with CodexNotFound naming it", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(collect(spec("ok", { binary: "/nonexistent/codex-xyz" })))
      expect(error._tag).toBe("CodexNotFound")
      expect(error.message).toContain("/nonexistent/codex-xyz")
    }))

  it.live("a binary that is not executable fails with CodexNotFound", () =>
    Effect.gen(function* () {
      const file = Path.join(runningDir, "not-executable")
      Fs.writeFileSync(file, "#!/bin/sh\n", { mode: 0o644 })
      const error = yield* Effect.flip(collect(spec("ok", { binary: file })))
      expect(error).toMatchObject({ _tag: "CodexNotFound", binary: file })
    }))

  it.live("a spawn the kernel refuses (an argument over 128 KiB: E2BIG) fails with CodexExit and a one-line reason", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(collect(spec("ok", { args: ["x".repeat(200 * 1024)] })))
      expect(error).toMatchObject({ _tag: "CodexExit", status: null, signal: null })
      expect(error.message).toMatch(/^could not start codex: .*E2BIG/)
      expect(error.message).not.toContain("\n")
      expect(error.message).not.toMatch(/ at .*\.(ts|js)/)
    }))

  it.live("a name that is not an absolute path is never looked up at run time (initialize resolves `binary`)", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(collect(spec("ok", { binary: "node" })))
      expect(error).toMatchObject({ _tag: "CodexNotFound", binary: "node" })
    }))

  it.live("a non-zero exit fails with CodexExit carrying the status and codex's stderr", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(collect(spec("fail")))
      expect(error).toMatchObject({ _tag: "CodexExit", status: 3, signal: null })
      expect(error.message).toContain("status 3")
      expect(error.message).toContain("no rollout found for thread id nope")
    }))

  it.live("events before a failing exit still arrive (turn.failed, then the exit)", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const result = yield* codex.run(spec("turn-failed")).pipe(
        Stream.runForEach((e) => Effect.sync(() => seen.push(e.type))),
        Effect.either
      )
      expect(seen).toEqual(["thread.started", "turn.started", "turn.failed"])
      expect(Either.isLeft(result) && result.left._tag).toBe("CodexExit")
    }))

  it.live("keeps only a bounded tail of a flood of stderr", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(collect(spec("stderr-flood")))
      expect(error._tag).toBe("CodexExit")
      const tail = error._tag === "CodexExit" ? error.stderrTail : ""
      expect(Buffer.byteLength(tail)).toBeLessThanOrEqual(8 * 1024)
      expect(tail.endsWith("THE-END-OF-STDERR")).toBe(true)
    }))

  it.live("tolerates stray non-JSON lines, handing them on as <unparsed>", () =>
    Effect.gen(function* () {
      const events = yield* collect(spec("garbage"))
      expect(events.filter((e) => e.type === "<unparsed>").map((e) => e.type === "<unparsed>" && e.line)).toEqual([
        "WARNING: something not JSON",
        "[1,2,3]",
        '{"no_type":true}'
      ])
      expect(events.some((e) => e.type === "turn.completed")).toBe(true)
    }))

  it.live("output with no readable event at all fails with CodexOutputError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(collect(spec("only-garbage")))
      expect(error._tag).toBe("CodexOutputError")
      expect(error.message).toContain("2 unreadable")
    }))

  it.live("reads a last line without a trailing newline", () =>
    Effect.gen(function* () {
      expect((yield* collect(spec("no-newline"))).map((e) => e.type)).toEqual(["thread.started"])
    }))

  it.live("reads a 20 MB line (multi-byte characters across chunk boundaries intact)", () =>
    Effect.gen(function* () {
      const events = yield* collect(spec("big-line"))
      const message = events.find((e) => e.type === "item.completed")
      const text = message?.type === "item.completed" && message.item.type === "agent_message" ? message.item.text : ""
      expect(text.length).toBe(10 * 1024 * 1024)
      expect(/^é+$/.test(text)).toBe(true)
      expect(events.at(-1)?.type).toBe("turn.completed")
    }))

  it.live("a line over the limit becomes <unparsed> and the rest of the output still arrives", () =>
    Effect.gen(function* () {
      const small = makeCodexProcess(makeProcessGroups({ runningDir }), { maxLineBytes: 1024 * 1024 })
      const events = yield* small.run(spec("big-line", { env: { FAKE_CODEX_BYTES: String(4 * 1024 * 1024) } })).pipe(
        Stream.runCollect,
        Effect.map(Chunk.toArray)
      )
      expect(events.map((e) => e.type)).toEqual(["thread.started", "<unparsed>", "turn.completed", "<exited>"])
    }))

  it.live("a slow consumer still gets every event after codex has exited (the pipe is drained, not cut)", () =>
    Effect.gen(function* () {
      // No read-ahead, a consumer slower than the exit grace: codex is long gone
      // while most of its output still waits in the pipe.
      const slow = makeCodexProcess(makeProcessGroups({ runningDir }), { readAheadBytes: 1 })
      let count = 0
      yield* slow.run(spec("many", { env: { FAKE_CODEX_EVENTS: "3000" } })).pipe(
        Stream.runForEachChunk((chunk) =>
          Effect.zipRight(Effect.sleep(Duration.millis(700)), Effect.sync(() => (count += codexEvents(chunk))))
        )
      )
      expect(count).toBe(3003)
    }))

  it.live("what arrives while the consumer is busy reaches it as one chunk, not a queue of small ones", () =>
    Effect.gen(function* () {
      // ~500 KB of output against a consumer that takes 200 ms a chunk: most of it waits as one batch.
      const chunks: Array<number> = []
      yield* makeCodexProcess(makeProcessGroups({ runningDir })).run(spec("many", { env: { FAKE_CODEX_EVENTS: "3000" } })).pipe(
        Stream.runForEachChunk((chunk) => Effect.zipRight(Effect.sleep(Duration.millis(200)), Effect.sync(() => chunks.push(codexEvents(chunk)))))
      )
      expect(chunks.reduce((a, b) => a + b, 0)).toBe(3003)
      expect(chunks.length).toBeLessThanOrEqual(6)
    }))

  it.live("the stream ends when codex exits even if a tool process still holds its stdout open", () =>
    Effect.gen(function* () {
      const events = yield* collect(spec("grandchild-holds-stdout"))
      expect(events.at(-1)?.type).toBe("turn.completed")
      expect(pidsOf(events).filter(running)).toEqual([])
    }))

  it.live("a codex SIGKILLed mid-turn fails the run with its signal, also when its end of file closes the run while its leftovers are still being ended", () =>
    Effect.gen(function* () {
      // The interleaving a busy machine brings: codex's shell snapshot holds its stdout past its
      // death, so the exit watcher ends it; the end of file that follows fails the run and closes
      // its scope, which stops the watcher while it is still ending the leftovers. This ProcessGroups
      // holds each end until its fiber is asked to stop, so that order is certain, not a matter of
      // timing (for at most 2 s: an end run by the consumer itself is never asked to stop).
      // Pulled as the turn runner pulls it (forEachChunk: Stream.toPull in the turn's scope).
      const groups = makeProcessGroups({ runningDir })
      const untilAskedToStop = (polls: number): Effect.Effect<void> => Effect.flatMap(Effect.descriptor, (d) =>
        HashSet.size(d.interruptors) > 0 || polls === 0 ? Effect.void : Effect.zipRight(Effect.sleep(Duration.millis(10)), untilAskedToStop(polls - 1)))
      const holdingGroups: ProcessGroupsShape = { ...groups, end: (pgid, mark) => Effect.zipLeft(groups.end(pgid, mark), untilAskedToStop(200)) }
      let pids: Array<number> = []
      const error = yield* makeCodexProcess(holdingGroups).run(spec("holder-hang")).pipe(
        (s) => Effect.scoped(forEachChunk(s, (c) => Effect.forEach(c, (e) =>
          Effect.sync(() => {
            // This fake prints its pids as a plain line: `fake.pids [codex, holder]`.
            if (e.type !== "<unparsed>" || !e.line.startsWith("fake.pids")) return
            pids = JSON.parse(/\[[\d,]+\]/.exec(e.line)![0])
            process.kill(pids[0]!, "SIGKILL")
          }), { discard: true }))),
        Effect.flip
      )
      expect(error).toMatchObject({ _tag: "CodexExit", signal: "SIGKILL" })
      expect(pids).toHaveLength(2)
      expect(pids.filter(running)).toEqual([])
    }))

  it.live("stopping the consumer ends codex's whole process group", () =>
    Effect.gen(function* () {
      const [leader] = yield* startThenStop("hang")
      expect(leader).toBeGreaterThan(0)
      expect(running(leader!)).toBe(false)
    }))

  it.live("a codex that ignores SIGTERM is killed after the grace period", () =>
    Effect.gen(function* () {
      const [leader] = yield* startThenStop("ignore-term")
      expect(running(leader!)).toBe(false)
    }))

  it.live("a tool process that ignores SIGTERM dies with the group, not just the leader", () =>
    Effect.gen(function* () {
      const pids = yield* startThenStop("grandchild")
      expect(pids).toHaveLength(2)
      expect(pids.filter(running)).toEqual([])
    }))

  it.live("a command codex lost track of (re-parented, a session of its own) is ended by its thread id", () =>
    Effect.gen(function* () {
      const pids = yield* startThenStop("lost-command")
      expect(pids).toHaveLength(2)
      // Killed here if the plugin failed to, so a failing run leaves nothing for 300 s.
      const left = pids.filter(running)
      for (const pid of left) process.kill(pid, "SIGKILL")
      expect(left).toEqual([])
    }))

  it.live("a tool process left behind by a codex that finished normally is ended with the turn", () =>
    Effect.gen(function* () {
      const events = yield* collect(spec("grandchild-exit"))
      expect(events.at(-1)?.type).toBe("turn.completed")
      const pids = pidsOf(events)
      expect(pids).toHaveLength(2)
      expect(pids.filter(running)).toEqual([])
    }))

  it.live("interrupting the consumer (cancel, timeout) ends the group and returns", () =>
    Effect.gen(function* () {
      let pids: Array<number> = []
      const fiber = yield* codex.run(spec("ignore-term")).pipe(
        Stream.runForEach((e) => Effect.sync(() => (pids = pidsOf([e]).length ? pidsOf([e]) : pids))),
        Effect.fork
      )
      while (pids.length === 0) yield* Effect.sleep(Duration.millis(20))
      expect(Fs.existsSync(Path.join(runningDir, `${pids[0]}.json`))).toBe(true)
      yield* Fiber.interrupt(fiber)
      expect(pids.filter(running)).toEqual([])
      expect(Fs.existsSync(Path.join(runningDir, `${pids[0]}.json`))).toBe(false)
    }))
})
