// The one thread choice for both engines (PROTOCOL.md §4): which thread a turn resumes, and the
// notice a host sees when the turn cannot resume the thread it asked for.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { chooseThread } from "../../../src/core/turn/ThreadChoice.ts"
import type { StreamParams, ToolSpec } from "../../../src/schemas/Protocol.ts"
import { RolloutNotFound } from "../../../src/services/RolloutStore.ts"

const rollouts: Record<string, string> = { "thread-a": "/codex/sessions/rollout-thread-a.jsonl", "thread-b": "/codex/sessions/rollout-thread-b.jsonl" }

const choose = chooseThread({
  lastThread: () => Effect.succeed(Option.some("thread-a")),
  findRollout: (threadId) =>
    threadId in rollouts
      ? Effect.succeed(rollouts[threadId]!)
      : Effect.fail(new RolloutNotFound({ threadId, reason: "missing", message: `no rollout for ${threadId}` }))
})

const params = (session: { fresh?: boolean; threadId?: string }, tools?: ReadonlyArray<ToolSpec>): StreamParams => ({
  turnId: "turn-1",
  modelId: "codex",
  agent: { agentId: "agent-a", workspace: "/work/space" },
  request: { messages: [{ role: "user", content: "hi" }], session, ...(tools ? { tools } : {}) }
})

const resumed = (threadId: string) => Option.some({ threadId, rolloutPath: rollouts[threadId]! })

describe("the thread choice", () => {
  it.effect("resumes the thread asked for, else the agent's last one; fresh starts a new one", () =>
    Effect.gen(function* () {
      expect(yield* choose(params({ threadId: "thread-b" }))).toEqual({ resume: resumed("thread-b"), notices: [] })
      expect(yield* choose(params({}))).toEqual({ resume: resumed("thread-a"), notices: [] })
      expect(yield* choose(params({ fresh: true, threadId: "thread-b" }))).toEqual({ resume: Option.none(), notices: [] })
    }))

  it.effect("a thread without a rollout: a new thread with a warn notice naming it", () =>
    Effect.gen(function* () {
      const choice = yield* choose(params({ threadId: "thread-gone" }))
      expect(Option.isNone(choice.resume)).toBe(true)
      expect(choice.notices).toEqual([expect.objectContaining({ type: "notice", level: "warn", message: expect.stringContaining("thread-gone") })])
    }))

  it.effect("an engine that cannot go on with the thread under the turn's tools gets a new thread, with a notice", () =>
    Effect.gen(function* () {
      const tools = [{ name: "beta", inputSchema: { type: "object" } }]
      const asked: Array<[string, ReadonlyArray<ToolSpec>]> = []
      const keepsOnlyA = (threadId: string, t: ReadonlyArray<ToolSpec>) => Effect.sync(() => (asked.push([threadId, t]), threadId === "thread-a"))
      const moved = yield* choose(params({ threadId: "thread-b" }, tools), keepsOnlyA)
      expect(Option.isNone(moved.resume)).toBe(true)
      expect(moved.notices).toEqual([expect.objectContaining({ type: "notice", level: "info", message: expect.stringContaining("thread-b") })])
      expect(asked).toEqual([["thread-b", tools]])
      expect(yield* choose(params({ threadId: "thread-a" }, tools), keepsOnlyA)).toEqual({ resume: resumed("thread-a"), notices: [] })
    }))
})
