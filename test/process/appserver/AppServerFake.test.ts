// The app-server engine against a fake app-server: every server→client request is answered, and
// an app-server that ignores `turn/interrupt` has its process group ended.
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope, Stream } from "effect"
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { makeAppServerEngine } from "../../../src/layers/AppServerEngineLive.ts"
import { makeProcessGroups } from "../../../src/layers/ProcessGroupsLive.ts"
import { makeRolloutStore } from "../../../src/layers/RolloutStoreLive.ts"
import { makeTurns } from "../../../src/layers/TurnsLive.ts"
import { isTurnEnded } from "../../../src/services/TurnEngine.ts"
import { makeHooks, makePlan, makeWorld, runTurn, type AppServerWorld } from "../../support/AppServerHarness.ts"
import { processesMatching, waitForNoProcesses } from "../../support/Processes.ts"
import { withEnv } from "../../support/ProcessEnv.ts"

const fake = fileURLToPath(new URL("../../fixtures/fake-app-server.mjs", import.meta.url))

const fakeEngine = (world: AppServerWorld) =>
  Effect.gen(function* () {
    const rollouts = yield* makeRolloutStore(world.paths)
    const groups = makeProcessGroups({ runningDir: join(world.paths.stateDir, "running") })
    const turns = yield* makeTurns
    return yield* makeAppServerEngine({
      paths: world.paths,
      groups,
      rollouts,
      turns,
      idleUnloadSec: Effect.succeed(600),
      options: { controlTimeoutMs: 500, rolloutSettleMs: 0 }
    })
  })

describe("app-server engine with a fake app-server", () => {
  it.scopedLive("answers every request: approvals declined, unknown methods refused, tool calls through the host", () =>
    Effect.gen(function* () {
      const marker = `fake-${randomUUID()}`
      const world = yield* makeWorld("http://127.0.0.1:9/v1", { binary: fake, extra_args: ["-c", `marker=${marker}`] })
      const logFile = join(world.workspace, "answers.jsonl")
      yield* withEnv({ FAKE_APP_SERVER_LOG: logFile, FAKE_APP_SERVER_MODE: "normal" })
      const engine = yield* fakeEngine(world)
      const { hooks, log } = makeHooks((name, args) => Effect.succeed({ content: [{ type: "text", text: `${name} says ${String(args.say)}` }] }))
      const tools = [{ name: "echo", inputSchema: { type: "object", properties: {} } }]
      const { failure } = yield* runTurn(engine, makePlan(world, { text: "go", tools }), hooks)
      expect(failure?.message).toBeUndefined()
      const answers = Object.fromEntries(
        readFileSync(logFile, "utf8").trim().split("\n").map((l) => JSON.parse(l)).map((m) => [m.id, m])
      )
      expect(answers.r1).toEqual({ id: "r1", result: { decision: "decline" } })
      expect(answers.r2.error.code).toBe(-32601)
      expect(answers.r3).toEqual({ id: "r3", result: { contentItems: [{ type: "inputText", text: "echo says hi" }], success: true } })
      expect(answers.r4.result.success).toBe(false) // a thread with no turn running: answered, not left hanging
      expect(log.toolCalls).toEqual([{ name: "echo", args: { say: "hi" } }])
    }))

  it.scopedLive("a tool call of a turn no longer running is answered with an error, never run with the next turn's tools", () =>
    Effect.gen(function* () {
      const marker = `late-${randomUUID()}`
      const world = yield* makeWorld("http://127.0.0.1:9/v1", { binary: fake, extra_args: ["-c", `marker=${marker}`] })
      const logFile = join(world.workspace, "answers.jsonl")
      yield* withEnv({ FAKE_APP_SERVER_LOG: logFile, FAKE_APP_SERVER_MODE: "late" })
      const engine = yield* fakeEngine(world)
      const { hooks, log } = makeHooks((name, args) => Effect.succeed({ content: [{ type: "text", text: `${name} says ${String(args.say)}` }] }))
      const tools = [{ name: "echo", inputSchema: { type: "object", properties: {} } }]
      const first = yield* runTurn(engine, makePlan(world, { text: "one", tools }), hooks)
      expect(first.failure?.message).toBeUndefined()
      // The second turn of the thread: codex sends a call of the first turn, then one of this turn.
      const second = yield* runTurn(engine, makePlan(world, { text: "two", tools, resumeThreadId: "fake-thread-0001" }), hooks)
      expect(second.failure?.message).toBeUndefined()
      const answers = Object.fromEntries(
        readFileSync(logFile, "utf8").trim().split("\n").map((l) => JSON.parse(l)).map((m) => [m.id, m])
      )
      expect(answers.r5.result).toEqual({
        contentItems: [{ type: "inputText", text: "this tool call belongs to turn fake-turn-0001, which is no longer running; it was not run" }],
        success: false
      })
      expect(answers.r6.result).toEqual({ contentItems: [{ type: "inputText", text: "echo says call_now" }], success: true })
      // Only the second turn's own call reached the host.
      expect(log.toolCalls).toEqual([{ name: "echo", args: { say: "call_now" } }])
    }))

  it.scopedLive("an app-server that ignores turn/interrupt is ended, and the next turn starts a new one", () =>
    Effect.gen(function* () {
      const marker = `deaf-${randomUUID()}`
      const world = yield* makeWorld("http://127.0.0.1:9/v1", { binary: fake, extra_args: ["-c", `marker=${marker}`] })
      yield* withEnv({ FAKE_APP_SERVER_MODE: "deaf" })
      const engine = yield* fakeEngine(world)
      const { hooks } = makeHooks()
      const started = yield* Deferred.make<void>()
      const fiber = yield* engine.run(makePlan(world, { text: "hang" }), hooks).pipe(
        Stream.runForEach((e) => (!isTurnEnded(e) && e.type === "turn.started" ? Deferred.succeed(started, undefined) : Effect.void)),
        Effect.fork
      )
      // A turn that ends before the point waited for fails the test at once instead of hanging it.
      yield* Effect.raceFirst(Deferred.await(started), Effect.flatMap(Fiber.join(fiber), () => Effect.die("the turn ended early")))
      const [before] = processesMatching(new RegExp(marker))
      expect(before).toBeDefined()
      yield* Fiber.interrupt(fiber)
      // SIGTERM is ignored by this one: the group end goes on to SIGKILL.
      expect(yield* Effect.promise(() => waitForNoProcesses(new RegExp(marker), 5_000))).toEqual([])
      const next = yield* engine.run(makePlan(world, { text: "again" }), hooks).pipe(
        Stream.take(1),
        Stream.runCollect
      )
      expect([...next][0]).toMatchObject({ type: "turn.started" })
      const [after] = processesMatching(new RegExp(marker))
      expect(after?.pid).not.toBe(before?.pid)
    }))
})

describe("what the app-server starts outside its group (its shell snapshot)", () => {
  const holderOf = (marker: string) => new RegExp(`60_000\\) ${marker}-holder`)

  it.scopedLive("ends when the plugin closes the engine, and when the app-server dies", () =>
    Effect.gen(function* () {
      for (const how of ["engine closed", "app-server killed"] as const) {
        const marker = `holder-${randomUUID()}`
        const world = yield* makeWorld("http://127.0.0.1:9/v1", { binary: fake, extra_args: ["-c", `marker=${marker}`] })
        yield* withEnv({ FAKE_APP_SERVER_MODE: "normal", FAKE_APP_SERVER_HOLDER: `${marker}-holder` })
        const scope = yield* Scope.make()
        const engine = yield* fakeEngine(world).pipe(Scope.extend(scope))
        const { hooks } = makeHooks()
        yield* runTurn(engine, makePlan(world, { text: "go" }), hooks)
        expect(processesMatching(holderOf(marker))).toHaveLength(1)
        if (how === "app-server killed") {
          const [appServer] = processesMatching(new RegExp(`fake-app-server.mjs.*${marker}`))
          process.kill(appServer!.pid, "SIGKILL")
        } else yield* Scope.close(scope, Exit.void)
        expect(yield* Effect.promise(() => waitForNoProcesses(holderOf(marker), 5_000))).toEqual([])
        yield* Scope.close(scope, Exit.void)
      }
    }))
})

describe("app-server left by a SIGKILLed plugin", () => {
  it.scopedLive("is ended by the next start's orphan reaping", () =>
    Effect.gen(function* () {
      const marker = `orphan-${randomUUID()}`
      const world = yield* makeWorld("http://127.0.0.1:9/v1", { binary: fake, extra_args: ["-c", `marker=${marker}`] })
      const host = fileURLToPath(new URL("../../fixtures/app-server-engine-host.ts", import.meta.url))
      // node itself with tsx's loader (not the tsx launcher, which would run the host in a child of its own).
      const child = spawn(process.execPath, ["--import", "tsx", host], {
        cwd: fileURLToPath(new URL("../../..", import.meta.url)),
        env: { ...process.env, FAKE_APP_SERVER_MODE: "deaf", APP_SERVER_HOST_WORLD: JSON.stringify(world) },
        stdio: ["ignore", "pipe", "inherit"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
      yield* Effect.promise(() => new Promise<void>((ready) => child.stdout.on("data", (d: Buffer) => d.toString().includes("READY") && ready())))
      child.kill("SIGKILL")
      yield* Effect.promise(() => new Promise((r) => child.once("exit", r)))
      // The app-server outlived its plugin (this one even ignores the end of its stdin and SIGTERM).
      expect(processesMatching(new RegExp(marker))).toHaveLength(1)
      const groups = makeProcessGroups({ runningDir: join(world.paths.stateDir, "running"), graceMs: 200 })
      expect(yield* groups.reapOrphans).toHaveLength(1)
      expect(yield* Effect.promise(() => waitForNoProcesses(new RegExp(marker), 3_000))).toEqual([])
    }))
})
