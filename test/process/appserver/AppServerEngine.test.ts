// The app-server engine against the real codex app-server and the scripted model (PROTOCOL.md §8).
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  assistantMessage,
  functionCall,
  requestText,
  type ModelRequest,
  type ScriptedResponse,
  startScriptedModelServer
} from "../../support/ScriptedModelServer.ts"
import { buildEngine, makeHooks, makePlan, makeWorld, runTurn, threadOf } from "../../support/AppServerHarness.ts"

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
  it.scopedLive("a turn streams deltas that add up to the message, then usage", () =>
    Effect.gen(function* () {
      const server = yield* modelServer(() => ({ items: [assistantMessage("hello from the app server")], stream: { delayMs: 1 } }))
      const world = yield* makeWorld(server.baseUrl)
      const engine = yield* buildEngine(world)
      const { hooks, log } = makeHooks()
      const { events, failure } = yield* runTurn(engine, makePlan(world, { text: "say hello" }), hooks)
      expect(failure).toBeUndefined()
      expect(events[0]).toMatchObject({ type: "turn.started", resumed: false })
      expect(log.threads).toEqual([threadOf(events)])
      const message = events.find((e) => e.type === "message")
      expect(message).toMatchObject({ text: "hello from the app server" })
      const deltas = events.filter((e) => e.type === "message.delta" && message?.type === "message" && e.itemId === message.itemId)
      expect(deltas.map((d) => (d.type === "message.delta" ? d.delta : "")).join("")).toBe("hello from the app server")
      expect(events.at(-1)).toEqual({ type: "usage", inputTokens: 10, cachedInputTokens: 0, outputTokens: 5, reasoningOutputTokens: 0 })
    }))
})
