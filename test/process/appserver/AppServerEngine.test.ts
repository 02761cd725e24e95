// The app-server engine against the real codex app-server and the scripted model (PROTOCOL.md §8).
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Stream } from "effect"
import { randomUUID } from "node:crypto"
import { readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { TurnEvent } from "../../../src/schemas/Protocol.ts"
import { isTurnEnded } from "../../../src/services/TurnEngine.ts"
import { processesMatching, waitForNoProcesses } from "../../support/Processes.ts"
import {
  assistantMessage,
  functionCall,
  reasoningItem,
  requestText,
  type ModelRequest,
  type ScriptedResponse,
  startScriptedModelServer
} from "../../support/ScriptedModelServer.ts"
import { buildEngine, buildRollouts, chosenPlan, makeHooks, makePlan, makeWorld, runTurn, threadOf } from "../../support/AppServerHarness.ts"

type Script = (req: ModelRequest) => ScriptedResponse | Promise<ScriptedResponse>

/** A scripted model server for the test's scope; `script` can be swapped between turns. */
const modelServer = (initial: Script) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const holder = { script: initial }
      const server = await startScriptedModelServer((req) => holder.script(req))
      return Object.assign(server, { holder })
    }),
    (s) => Effect.promise(() => s.close())
  )

describe("app-server engine", () => {
  it.scopedLive("a turn streams deltas that add up to the message and the reasoning, then usage", () =>
    Effect.gen(function* () {
      const server = yield* modelServer(() => ({
        items: [reasoningItem("thinking about greetings"), assistantMessage("hello from the app server")],
        stream: { delayMs: 1 }
      }))
      const world = yield* makeWorld(server.baseUrl)
      const engine = yield* buildEngine(world)
      const { hooks, log } = makeHooks()
      const { ended, events, failure } = yield* runTurn(engine, makePlan(world, { text: "say hello" }), hooks)
      expect(failure?.message).toBeUndefined()
      expect(events[0]).toMatchObject({ type: "turn.started", resumed: false })
      expect(log.threads).toEqual([threadOf(events)])
      const message = events.find((e) => e.type === "message")
      expect(message).toMatchObject({ text: "hello from the app server" })
      const deltas = events.filter((e) => e.type === "message.delta" && message?.type === "message" && e.itemId === message.itemId)
      expect(deltas.map((d) => (d.type === "message.delta" ? d.delta : "")).join("")).toBe("hello from the app server")
      const reasoning = events.find((e) => e.type === "reasoning")
      expect(reasoning).toMatchObject({ text: "thinking about greetings" })
      const thoughts = events.filter((e) => e.type === "reasoning.delta" && reasoning?.type === "reasoning" && e.itemId === reasoning.itemId)
      expect(thoughts.map((d) => (d.type === "reasoning.delta" ? d.delta : "")).join("")).toBe("thinking about greetings")
      // The turn ends with its final message and usage (the runner makes them the terminal events).
      expect(ended).toMatchObject({ finalMessage: "hello from the app server", usage: { inputTokens: 10, cachedInputTokens: 0, outputTokens: 5, reasoningOutputTokens: 0 } })
    }))
})

/** Text of the tool output the model got for `callId` in a request. */
const outputFor = (req: ModelRequest, callId: string): unknown =>
  (req.body?.input as Array<any> | undefined)?.find((i) => i?.type === "function_call_output" && i.call_id === callId)?.output

const toolNames = (req: ModelRequest): Array<string> => ((req.body?.tools ?? []) as Array<any>).map((t) => t.name ?? t.type)

const appServersOf = (baseUrl: string) => processesMatching(new RegExp(`app-server .*${baseUrl.replace(/[.]/g, "\\.")}`))

describe("app-server engine: tools", () => {
  it.scopedLive("text deltas reach the consumer before the model's response is complete", () =>
    Effect.gen(function* () {
      let release!: () => void
      const hold = new Promise<void>((r) => (release = r))
      const timer = setTimeout(() => release(), 20_000) // a bound, so a failure is an assertion, not a hang
      yield* Effect.addFinalizer(() => Effect.sync(() => clearTimeout(timer)))
      const server = yield* modelServer(() => ({ items: [assistantMessage("one two three four")], stream: { holdCompletion: hold } }))
      const world = yield* makeWorld(server.baseUrl)
      const engine = yield* buildEngine(world)
      const { hooks } = makeHooks()
      let deltaWhileHeld: boolean | undefined
      let releasedByTimer = true
      const events: Array<TurnEvent> = []
      yield* engine.run(makePlan(world, { text: "count" }), hooks).pipe(
        Stream.runForEach((e) =>
          Effect.sync(() => {
            if (isTurnEnded(e)) return
            events.push(e)
            if (e.type === "message.delta" && deltaWhileHeld === undefined) {
              deltaWhileHeld = true
              releasedByTimer = false
              release()
            }
          })
        )
      )
      expect(deltaWhileHeld).toBe(true)
      expect(releasedByTimer).toBe(false)
      expect(events.find((e) => e.type === "message")).toMatchObject({ text: "one two three four" })
    }))

  it.scopedLive("a shell command shows live and as a tool.block under codex's call id", () =>
    Effect.gen(function* () {
      const server = yield* modelServer((req) =>
        req.index === 0
          ? { items: [functionCall("exec_command", { cmd: "echo from-the-shell" }, { callId: "call_shell_1" })] }
          : { items: [assistantMessage("done")] }
      )
      const world = yield* makeWorld(server.baseUrl)
      const engine = yield* buildEngine(world)
      const { hooks } = makeHooks()
      const { events, failure } = yield* runTurn(engine, makePlan(world, { text: "run it" }), hooks)
      expect(failure?.message).toBeUndefined()
      const completed = events.find((e) => e.type === "tool.completed")
      expect(completed).toMatchObject({ kind: "command", status: "completed", exitCode: 0 })
      expect(String(completed?.type === "tool.completed" ? completed.output : "")).toContain("from-the-shell")
      const block = events.find((e) => e.type === "tool.block")
      expect(block).toMatchObject({ blockId: "call_shell_1", name: "exec_command" })
      expect(String(block?.type === "tool.block" ? block.output : "")).toContain("from-the-shell")
      expect(events.findIndex((e) => e.type === "tool.block")).toBeGreaterThan(events.findIndex((e) => e.type === "message"))
    }))

  it.scopedLive("a host tool is a dynamic tool: renamed for the model, called under the host's name, errors as text", () =>
    Effect.gen(function* () {
      let exposed = ""
      const server = yield* modelServer((req) => {
        if (req.index === 0) {
          exposed = toolNames(req).find((n) => n.startsWith("lookup_ticket"))!
          return { items: [functionCall(exposed, { id: 7 }, { callId: "call_host_1" }), functionCall("failing_tool", {}, { callId: "call_host_2" })] }
        }
        return { items: [assistantMessage("ticket read")] }
      })
      const world = yield* makeWorld(server.baseUrl)
      const engine = yield* buildEngine(world)
      const { hooks, log } = makeHooks((name) =>
        Effect.succeed(
          name === "lookup.ticket"
            ? { content: [{ type: "text", text: "ticket 7: printer on fire" }] }
            : { content: [{ type: "text", text: "host says no" }], isError: true }
        )
      )
      const tools = [
        { name: "lookup.ticket", description: "reads a ticket", inputSchema: { type: "object", properties: { id: { type: "number" } } } },
        { name: "failing_tool", inputSchema: { type: "object", properties: {} } }
      ]
      const { events, failure } = yield* runTurn(engine, makePlan(world, { text: "read ticket 7", tools }), hooks)
      expect(failure?.message).toBeUndefined()
      // codex runs the two calls side by side: they may be called and complete in either order.
      expect(exposed).toMatch(/^lookup_ticket_[0-9a-f]+$/)
      expect(toolNames(server.requests[0]!)).toContain("failing_tool")
      expect(log.toolCalls).toEqual(expect.arrayContaining([{ name: "lookup.ticket", args: { id: 7 } }, { name: "failing_tool", args: {} }]))
      expect(log.toolCalls).toHaveLength(2)
      expect(JSON.stringify(outputFor(server.requests[1]!, "call_host_1"))).toContain("ticket 7: printer on fire")
      expect(JSON.stringify(outputFor(server.requests[1]!, "call_host_2"))).toContain("host says no")
      expect(events.filter((e) => e.type === "tool.completed").map((e) => e.type === "tool.completed" && [e.name, e.kind, e.status]))
        .toEqual(expect.arrayContaining([["lookup.ticket", "dynamic", "completed"], ["failing_tool", "dynamic", "failed"]]))
      expect(events.filter((e) => e.type === "tool.completed")).toHaveLength(2)
      expect(events.filter((e) => e.type === "tool.block").map((e) => e.type === "tool.block" && e.blockId)).toEqual(["call_host_1", "call_host_2"])
      // One id from the live events through the rollout to the consume mirror's handle.
      expect(events.filter((e) => e.type === "tool.started").map((e) => e.type === "tool.started" && e.itemId).sort()).toEqual(["call_host_1", "call_host_2"])
    }))

  it.scopedLive("a later turn with other tools offers exactly the new tools and carries the conversation", () =>
    Effect.gen(function* () {
      const server = yield* modelServer(() => ({ items: [assistantMessage("ok")] }))
      const world = yield* makeWorld(server.baseUrl)
      const engine = yield* buildEngine(world)
      const { hooks, log } = makeHooks()
      const schema = { type: "object", properties: {} }
      const first = yield* runTurn(engine, makePlan(world, { text: "first turn", tools: [{ name: "alpha", inputSchema: schema }] }), hooks)
      const thread1 = threadOf(first.events)
      // The thread choice asks the engine, which cannot go on with thread1 under other tools.
      const moved = yield* chosenPlan(engine, world, {
        text: "second turn",
        threadId: thread1,
        tools: [{ name: "beta", inputSchema: schema }],
        newThreadPrompt: "TRANSCRIPT user: first turn / assistant: ok\nNEW: second turn"
      })
      expect(moved.plan.resumeThreadId).toBeUndefined()
      const second = yield* runTurn(engine, moved.plan, hooks)
      expect(second.failure?.message).toBeUndefined()
      expect(second.events[0]).toMatchObject({ type: "turn.started", resumed: false })
      const thread2 = threadOf(second.events)
      expect(thread2).not.toBe(thread1)
      expect(log.threads).toEqual([thread1, thread2])
      expect(moved.notices.some((e) => e.type === "notice" && e.message.includes(thread1))).toBe(true)
      const [req1, req2] = server.requests
      expect(toolNames(req1!)).toContain("alpha")
      expect(toolNames(req2!)).toContain("beta")
      expect(toolNames(req2!)).not.toContain("alpha")
      expect(requestText(req2!)).toContain("TRANSCRIPT user: first turn")
      // The same tools again: the thread goes on as it is.
      const kept = yield* chosenPlan(engine, world, { text: "third turn", threadId: thread2, tools: [{ name: "beta", inputSchema: schema }] })
      expect(kept.notices).toEqual([])
      const third = yield* runTurn(engine, kept.plan, hooks)
      expect(third.events[0]).toMatchObject({ type: "turn.started", threadId: thread2, resumed: true })
    }))
})

describe("app-server engine: lifetime", () => {
  it.scopedLive("a thread resumes in a new engine (plugin restart), with this turn's usage only", () =>
    Effect.gen(function* () {
      const server = yield* modelServer((req) => ({
        items: [assistantMessage(`answer ${req.index}`)],
        usage: req.index === 0 ? { input_tokens: 100, output_tokens: 10 } : { input_tokens: 7, output_tokens: 3 }
      }))
      const world = yield* makeWorld(server.baseUrl)
      const { hooks } = makeHooks()
      const running = join(world.paths.stateDir, "running")
      const first = yield* Effect.scoped(
        Effect.gen(function* () {
          const engine = yield* buildEngine(world)
          const turn = yield* runTurn(engine, makePlan(world, { text: "remember the word PELICAN" }), hooks)
          // Recorded as a running group, so a plugin started after a SIGKILLed one reaps it.
          const leader = appServersOf(server.baseUrl).find((p) => p.pid === p.pgid)!
          expect(readdirSync(running)).toEqual([`${leader.pgid}.json`])
          return turn
        })
      )
      expect(appServersOf(server.baseUrl)).toEqual([]) // the engine's scope ended its app-server
      expect(readdirSync(running)).toEqual([])
      const thread = threadOf(first.events)
      const engine = yield* buildEngine(world)
      const second = yield* runTurn(engine, makePlan(world, { text: "which word?", resumeThreadId: thread }), hooks)
      expect(second.failure?.message).toBeUndefined()
      expect(second.events[0]).toEqual({ type: "turn.started", threadId: thread, resumed: true })
      expect(requestText(server.requests[1]!)).toContain("remember the word PELICAN")
      expect(second.ended?.usage).toEqual({ inputTokens: 7, cachedInputTokens: 0, outputTokens: 3, reasoningOutputTokens: 0 })
    }))

  it.scopedLive("cancelling a turn ends the command it started; the app-server serves the next turn", () =>
    Effect.gen(function* () {
      const marker = `hang-${randomUUID()}`
      const server = yield* modelServer((req) =>
        req.index === 0
          ? { items: [functionCall("exec_command", { cmd: `sleep 300; echo ${marker}`, yield_time_ms: 60000 })] }
          : { items: [assistantMessage("after the cancel")] }
      )
      const world = yield* makeWorld(server.baseUrl)
      const engine = yield* buildEngine(world)
      const { hooks } = makeHooks()
      const started = yield* Deferred.make<void>()
      const fiber = yield* engine.run(makePlan(world, { text: "hang" }), hooks).pipe(
        Stream.runForEach((e) => (!isTurnEnded(e) && e.type === "tool.started" ? Deferred.succeed(started, undefined) : Effect.void)),
        Effect.fork
      )
      // A turn that ends before the point waited for fails the test at once instead of hanging it.
      yield* Effect.raceFirst(Deferred.await(started), Effect.flatMap(Fiber.join(fiber), () => Effect.die("the turn ended early")))
      yield* Effect.promise(() => waitFor(() => processesMatching(new RegExp(marker)).length > 0, 10_000))
      expect(processesMatching(new RegExp(marker)).length).toBeGreaterThan(0)
      yield* Fiber.interrupt(fiber)
      expect(yield* Effect.promise(() => waitForNoProcesses(new RegExp(marker), 5_000))).toEqual([])
      const next = yield* runTurn(engine, makePlan(world, { text: "next" }), hooks)
      expect(next.failure?.message).toBeUndefined()
      expect(next.events.find((e) => e.type === "message")).toMatchObject({ text: "after the cancel" })
    }))

  it.scopedLive("an app-server killed mid-turn fails that turn with codex_exit; the next turn resumes the thread", () =>
    Effect.gen(function* () {
      const server = yield* modelServer((req) =>
        req.index === 1 ? { hang: true } : { items: [assistantMessage(`answer ${req.index}`)] }
      )
      const world = yield* makeWorld(server.baseUrl)
      const engine = yield* buildEngine(world)
      const { hooks } = makeHooks()
      const first = yield* runTurn(engine, makePlan(world, { text: "remember OSPREY" }), hooks)
      const thread = threadOf(first.events)
      const pids = appServersOf(server.baseUrl).map((p) => p.pid)
      expect(pids.length).toBeGreaterThan(0)
      const killer = yield* Effect.fork(
        Effect.promise(() => waitFor(() => server.requests.length >= 2, 20_000)).pipe(
          Effect.andThen(() => pids.forEach((pid) => process.kill(pid, "SIGKILL")))
        )
      )
      const second = yield* runTurn(engine, makePlan(world, { text: "this one dies", resumeThreadId: thread }), hooks)
      yield* Fiber.join(killer)
      expect(second.failure).toMatchObject({ code: "codex_exit" })
      expect(second.failure?.message).toMatch(/app-server .*SIGKILL/)
      expect(second.failure?.message).not.toContain("\n")
      const third = yield* runTurn(engine, makePlan(world, { text: "which bird?", resumeThreadId: thread }), hooks)
      expect(third.failure?.message).toBeUndefined()
      expect(third.events[0]).toEqual({ type: "turn.started", threadId: thread, resumed: true })
      expect(requestText(server.requests.at(-1)!)).toContain("remember OSPREY")
      expect(appServersOf(server.baseUrl).map((p) => p.pid).filter((p) => pids.includes(p))).toEqual([])
    }))

  it.scopedLive("an app-server killed under two running turns fails both with codex_exit", () =>
    Effect.gen(function* () {
      const server = yield* modelServer(() => ({ hang: true }))
      const world = yield* makeWorld(server.baseUrl)
      const engine = yield* buildEngine(world)
      const killer = yield* Effect.fork(
        Effect.promise(() => waitFor(() => server.requests.length >= 2, 20_000)).pipe(
          Effect.andThen(() => appServersOf(server.baseUrl).forEach((p) => process.kill(p.pid, "SIGKILL")))
        )
      )
      const turns = yield* Effect.all(
        ["a", "b"].map((agent) => runTurn(engine, makePlan(world, { text: `hang ${agent}`, agentId: agent }), makeHooks().hooks)),
        { concurrency: 2 }
      )
      yield* Fiber.join(killer)
      expect(turns.map((t) => t.failure?.code)).toEqual(["codex_exit", "codex_exit"])
    }))

  it.scopedLive("an app-server killed between turns is replaced and the next turn resumes the thread", () =>
    Effect.gen(function* () {
      const server = yield* modelServer((req) => ({ items: [assistantMessage(`answer ${req.index}`)] }))
      const world = yield* makeWorld(server.baseUrl)
      const engine = yield* buildEngine(world)
      const { hooks } = makeHooks()
      const first = yield* runTurn(engine, makePlan(world, { text: "remember HERON" }), hooks)
      const thread = threadOf(first.events)
      for (const p of appServersOf(server.baseUrl)) process.kill(p.pid, "SIGKILL")
      const second = yield* runTurn(engine, makePlan(world, { text: "which bird?", resumeThreadId: thread }), hooks)
      expect(second.failure?.message).toBeUndefined()
      expect(second.events[0]).toEqual({ type: "turn.started", threadId: thread, resumed: true })
      expect(requestText(server.requests[1]!)).toContain("remember HERON")
    }))

  it.scopedLive("releaseThread, then a rollout rewrite reaches the model on the next turn", () =>
    Effect.gen(function* () {
      const server = yield* modelServer((req) =>
        req.index === 0
          ? { items: [functionCall("fetch_doc", {}, { callId: "call_doc_1" })] }
          : { items: [assistantMessage(`answer ${req.index}`)] }
      )
      const world = yield* makeWorld(server.baseUrl)
      const engine = yield* buildEngine(world)
      const rollouts = yield* buildRollouts(world)
      const { hooks } = makeHooks(() => Effect.succeed({ content: [{ type: "text", text: "SECRET-BULKY-OUTPUT" }] }))
      const tools = [{ name: "fetch_doc", inputSchema: { type: "object", properties: {} } }]
      const first = yield* runTurn(engine, makePlan(world, { text: "fetch it", tools }), hooks)
      const thread = threadOf(first.events)
      expect(first.events.find((e) => e.type === "tool.block")).toMatchObject({ blockId: "call_doc_1" })
      yield* engine.releaseThread(thread)
      yield* engine.releaseThread("not-a-loaded-thread") // a no-op
      const path = yield* rollouts.find(thread)
      const result = yield* rollouts.mutate(path, [{ blockId: "call_doc_1", op: "light" }], "...(tool called)")
      expect(result).toEqual({ touched: 1, missing: [] })
      const second = yield* runTurn(engine, makePlan(world, { text: "go on", resumeThreadId: thread, tools }), hooks)
      expect(second.failure?.message).toBeUndefined()
      expect(second.events[0]).toEqual({ type: "turn.started", threadId: thread, resumed: true })
      const last = server.requests.at(-1)!
      expect(JSON.stringify(outputFor(last, "call_doc_1"))).toContain("...(tool called)")
      expect(requestText(last)).not.toContain("SECRET-BULKY-OUTPUT")
    }))
})

const waitFor = async (cond: () => boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25))
}

describe("app-server engine: per-turn settings and agents side by side", () => {
  it.scopedLive("system prompt, output schema and reasoning effort reach the model", () =>
    Effect.gen(function* () {
      const server = yield* modelServer(() => ({ items: [assistantMessage('{"ok":true}')] }))
      const world = yield* makeWorld(server.baseUrl)
      const engine = yield* buildEngine(world)
      const { hooks } = makeHooks()
      const schema = { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"], additionalProperties: false }
      const plan = makePlan(world, { text: "answer in JSON", system: "SYSTEM-PROMPT-ONE" })
      const first = yield* runTurn(
        engine,
        { ...plan, params: { ...plan.params, request: { ...plan.params.request, options: { outputSchema: schema, reasoningEffort: "low" } } } },
        hooks
      )
      expect(first.failure?.message).toBeUndefined()
      const req1 = server.requests[0]!
      expect(requestText(req1)).toContain("SYSTEM-PROMPT-ONE")
      expect(JSON.stringify(req1.body.text ?? null)).toContain('"ok"')
      expect(req1.body.reasoning?.effort).toBe("low")
    }))

  it.scopedLive("the prompt's images reach the model", () =>
    Effect.gen(function* () {
      const server = yield* modelServer(() => ({ items: [assistantMessage("a red pixel")] }))
      const world = yield* makeWorld(server.baseUrl)
      const engine = yield* buildEngine(world)
      const image = join(world.workspace, "pixel.png")
      writeFileSync(image, Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==", "base64"))
      const plan = makePlan(world, { text: "what is in the picture?" })
      const { failure } = yield* runTurn(engine, { ...plan, prompt: { text: plan.prompt.text, images: [image] } }, makeHooks().hooks)
      expect(failure?.message).toBeUndefined()
      expect(requestText(server.requests[0]!)).toContain("data:image/png;base64,")
    }))

  it.scopedLive("two agents' turns run at once on one app-server, each offered only its own tools", () =>
    Effect.gen(function* () {
      const server = yield* modelServer((req) => {
        const names = toolNames(req)
        const mine = names.find((n) => n === "tool_of_a" || n === "tool_of_b")
        return req.body.input.some((i: any) => i.type === "function_call_output")
          ? { items: [assistantMessage(`done with ${mine}`)] }
          : { items: [functionCall(mine!, {}, { callId: `call_${mine}` })] }
      })
      const world = yield* makeWorld(server.baseUrl)
      const engine = yield* buildEngine(world)
      const schema = { type: "object", properties: {} }
      const turnOf = (agent: string) => {
        const { hooks, log } = makeHooks((name) => Effect.succeed({ content: [{ type: "text", text: `${agent} ran ${name}` }] }))
        return Effect.map(
          runTurn(engine, makePlan(world, { text: `work of ${agent}`, agentId: agent, tools: [{ name: `tool_of_${agent}`, inputSchema: schema }] }), hooks),
          (r) => ({ ...r, log })
        )
      }
      const [a, b] = yield* Effect.all([turnOf("a"), turnOf("b")], { concurrency: 2 })
      expect(a.failure?.message).toBeUndefined()
      expect(b.failure?.message).toBeUndefined()
      expect(a.log.toolCalls.map((c) => c.name)).toEqual(["tool_of_a"])
      expect(b.log.toolCalls.map((c) => c.name)).toEqual(["tool_of_b"])
      for (const req of server.requests) {
        const names = toolNames(req)
        expect(names.includes("tool_of_a") && names.includes("tool_of_b")).toBe(false)
      }
      expect(a.events.filter((e) => e.type === "tool.block").map((e) => e.type === "tool.block" && e.blockId)).toEqual(["call_tool_of_a"])
      expect(b.events.filter((e) => e.type === "tool.block").map((e) => e.type === "tool.block" && e.blockId)).toEqual(["call_tool_of_b"])
      expect(appServersOf(server.baseUrl).filter((p) => p.pid === p.pgid)).toHaveLength(1)
    }))
})
