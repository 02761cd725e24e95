// The protocol's method table (PROTOCOL.md §2–§3) driven in process: the real handlers, RPC peer,
// dispatcher, host logger, Turns and ActiveConfig over an in-memory stdio, with a TurnRunner that
// plays turns without codex and stores that answer what each case needs (test/support/ProtocolDoubles.ts).
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, type Layer, type Scope } from "effect"
import { HostLoggerLive } from "../../../src/protocol/HostLogger.ts"
import { makeProtocolRouter } from "../../../src/protocol/ProtocolHandlers.ts"
import { serveRequests } from "../../../src/protocol/RpcDispatcher.ts"
import { type HostMessage, TestHost } from "../../support/InMemoryStdio.ts"
import { ProtocolTestLayer, THREAD, USAGE, writeConfig } from "../../support/ProtocolDoubles.ts"

const agent = { agentId: "a1", workspace: "/ws" }
const initialize = (id: number) => ({ jsonrpc: "2.0", id, method: "initialize", params: { protocolVersion: 1, host: { name: "test", version: "0" } } })
const stream = (id: number, turnId: string, text = "hi") => ({
  jsonrpc: "2.0",
  id,
  method: "provider/stream",
  params: { turnId, modelId: "codex", agent, request: { messages: [{ role: "user", content: text }] } }
})
const call = (id: number, method: string, params: unknown) => ({ jsonrpc: "2.0", id, method, params })

/** Serves the real router until the host ends stdin; returns the host's end and the serving fiber. */
const serving = Effect.gen(function* () {
  // No codex is asked for its version: the configured binary does not exist.
  yield* writeConfig({ binary: "/nonexistent/codex" })
  const served = yield* Effect.fork(Effect.scoped(Effect.flatMap(makeProtocolRouter, serveRequests)).pipe(Effect.provide(HostLoggerLive)))
  return { host: yield* TestHost, served }
})

const initialized = Effect.gen(function* () {
  const s = yield* serving
  yield* s.host.write(initialize(1))
  yield* s.host.answerTo(1)
  return s
})

/** Every case gets fresh state: its own Turns, config, temp paths and stdio. */
const test = <E>(name: string, body: () => Effect.Effect<void, E, Layer.Layer.Success<typeof ProtocolTestLayer> | Scope.Scope>) =>
  it.scoped(name, () => Effect.provide(body(), ProtocolTestLayer))

const events = (messages: ReadonlyArray<HostMessage>) => messages.filter((m) => m.method === "provider/event").map((m) => m.params)

describe("protocol handlers, in process", () => {
  test("initialize answers the manifest; what it found reaches the host's log, a warn mirrored to stderr", () =>
    Effect.gen(function* () {
      const { host, served } = yield* serving
      yield* host.write(initialize(1))
      const { answer, before } = yield* host.answerTo(1)
      expect(answer.result).toMatchObject({ protocolVersion: 1, manifest: { name: "plexum-openai-provider", contracts: { provider: { models: ["codex"] } } } })
      const logs = before.filter((m) => m.method === "host/log").map((m) => m.params)
      expect(logs).toEqual(
        expect.arrayContaining([
          { level: "warn", message: expect.stringMatching(/^codex binary not found: .*turns fail with codex_not_found/), fields: { binary: expect.any(String) } },
          { level: "info", message: "plexum-openai-provider initialized", fields: expect.objectContaining({ engine: "exec", models: ["codex"] }) }
        ])
      )
      expect(yield* host.stderr).toEqual([expect.stringMatching(/^plexum-openai-provider warn: codex binary not found: /)])
      yield* host.end
      yield* Fiber.join(served)
    }))

  test("before initialize a turn or a cancel is -32001; an unknown method is -32601", () =>
    Effect.gen(function* () {
      const { host, served } = yield* serving
      yield* host.write(stream(1, "t1"))
      expect((yield* host.answerTo(1)).answer.error).toMatchObject({ code: -32001 })
      yield* host.write(call(2, "provider/cancel", { turnId: "t1" }))
      expect((yield* host.answerTo(2)).answer.error).toMatchObject({ code: -32001 })
      yield* host.write(call(3, "provider/teleport", {}))
      expect((yield* host.answerTo(3)).answer).toEqual({ jsonrpc: "2.0", id: 3, error: { code: -32601, message: "method not found: provider/teleport" } })
      yield* host.end
      yield* Fiber.join(served)
    }))

  test("provider/stream numbers the turn's events from 0, then answers with its status, thread and usage", () =>
    Effect.gen(function* () {
      const { host, served } = yield* initialized
      yield* host.write(stream(2, "t1"))
      const { answer, before } = yield* host.answerTo(2)
      expect(events(before)).toEqual([
        { turnId: "t1", seq: 0, event: { type: "turn.started", threadId: THREAD, resumed: false } },
        { turnId: "t1", seq: 1, event: { type: "message", itemId: "m1", text: "hello" } },
        { turnId: "t1", seq: 2, event: { type: "turn.completed", finalMessage: "hello", usage: USAGE } }
      ])
      expect(answer.result).toEqual({ turnId: "t1", status: "completed", threadId: THREAD, usage: USAGE })
      yield* host.end
      yield* Fiber.join(served)
    }))

  test("provider/cancel ends a running turn with turn.failed cancelled and answers it cancelled; a second agent turn meanwhile is -32003", () =>
    Effect.gen(function* () {
      const { host, served } = yield* initialized
      yield* host.write(stream(2, "t1", "wait for cancel"))
      yield* host.until((m) => m.params?.seq === 1)
      yield* host.write(stream(3, "t2"))
      expect((yield* host.answerTo(3)).answer.error).toMatchObject({ code: -32003, data: { runningTurnId: "t1" } })
      yield* host.write(call(4, "provider/cancel", { turnId: "t1" }))
      const seen = yield* host.until((m) => m.id === 2 && "result" in m)
      expect(seen.find((m) => m.id === 4)?.result).toEqual({ cancelled: true })
      expect(events(seen).at(-1)).toEqual({ turnId: "t1", seq: 2, event: { type: "turn.failed", code: "cancelled", message: "the turn was cancelled" } })
      expect(seen.at(-1)?.result).toEqual({ turnId: "t1", status: "cancelled", threadId: THREAD })
      yield* host.write(call(5, "provider/cancel", { turnId: "t1" }))
      expect((yield* host.answerTo(5)).answer.result).toEqual({ cancelled: false })
      yield* host.end
      yield* Fiber.join(served)
    }))

  test("$/cancelRequest naming the provider/stream request cancels its turn", () =>
    Effect.gen(function* () {
      const { host, served } = yield* initialized
      yield* host.write(stream(7, "t1", "wait for cancel"))
      yield* host.until((m) => m.params?.seq === 1)
      yield* host.write({ jsonrpc: "2.0", method: "$/cancelRequest", params: { id: 7 } })
      expect((yield* host.answerTo(7)).answer.result).toMatchObject({ status: "cancelled" })
      yield* host.end
      yield* Fiber.join(served)
    }))

  test("session/mutate: no thread, a thread without a rollout (-32006), a thread another codex holds (-32007)", () =>
    Effect.gen(function* () {
      const { host, served } = yield* initialized
      const mutations = [{ blockId: "call_1", op: "light" }]
      yield* host.write(call(2, "session/mutate", { agent, mutations }))
      expect((yield* host.answerTo(2)).answer.error).toEqual({ code: -32006, message: "no rollout for this thread: agent a1 has no thread in /ws", data: {} })
      yield* host.write(call(3, "session/mutate", { agent, threadId: "0199ffff-0000-7000-8000-000000000009", mutations }))
      expect((yield* host.answerTo(3)).answer.error).toMatchObject({ code: -32006, data: { threadId: "0199ffff-0000-7000-8000-000000000009" } })
      yield* host.write(call(4, "session/mutate", { agent, threadId: THREAD, mutations }))
      expect((yield* host.answerTo(4)).answer.error).toEqual({
        code: -32007,
        message: "thread in use by another codex process",
        data: { threadId: THREAD, reason: "codex pid 4242 holds the thread" }
      })
      yield* host.end
      yield* Fiber.join(served)
    }))

  test("stdin's end cancels the running turn, answers its request cancelled, and serving returns", () =>
    Effect.gen(function* () {
      const { host, served } = yield* initialized
      yield* host.write(stream(2, "t1", "wait for cancel"))
      yield* host.until((m) => m.params?.seq === 1)
      yield* host.end
      const { answer, before } = yield* host.answerTo(2)
      expect(events(before).at(-1)?.event).toMatchObject({ type: "turn.failed", code: "cancelled" })
      expect(answer.result).toMatchObject({ status: "cancelled" })
      yield* Fiber.join(served)
    }))
})
