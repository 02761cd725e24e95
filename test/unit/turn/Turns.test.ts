import { it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope } from "effect"
import { describe, expect } from "vitest"
import { TurnsLive } from "../../../src/layers/TurnsLive.ts"
import { Turns } from "../../../src/services/Turns.ts"

const withTurns = <A, E>(f: (turns: Turns["Type"]) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.scoped(Effect.flatMap(Turns, f)).pipe(Effect.provide(TurnsLive))

describe("Turns", () => {
  it.effect("admits one of many concurrent turns of one agent; the others are busy", () =>
    withTurns((turns) =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const results = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => Effect.either(Scope.extend(turns.admit({ turnId: `t${i}`, agentId: "a", requestId: i, onCancel: Effect.void }), scope)),
          { concurrency: "unbounded" }
        )
        expect(results.filter((r) => r._tag === "Right")).toHaveLength(1)
        expect(results.filter((r) => r._tag === "Left").every((r) => r._tag === "Left" && r.left._tag === "AgentBusy")).toBe(true)
        yield* Scope.close(scope, Exit.void)
      })
    ))

  it.effect("a refused turn reusing a running turn's id never removes the running turn", () =>
    withTurns((turns) =>
      Effect.gen(function* () {
        const cancelled = yield* Deferred.make<void>()
        yield* turns.admit({ turnId: "t1", agentId: "a", requestId: 1, onCancel: Deferred.succeed(cancelled, undefined) })
        for (const agentId of ["a", "b"]) {
          const refused = yield* Effect.flip(Effect.scoped(turns.admit({ turnId: "t1", agentId, requestId: 2, onCancel: Effect.void })))
          expect(refused._tag).toBe("TurnIdInUse")
        }
        // Still known: busy for its agent, and cancellable by id and by request id.
        expect((yield* Effect.flip(Effect.scoped(turns.admit({ turnId: "t2", agentId: "a", requestId: 3, onCancel: Effect.void }))))._tag).toBe("AgentBusy")
        // agent b is free.
        yield* Effect.scoped(turns.admit({ turnId: "t3", agentId: "b", requestId: 4, onCancel: Effect.void }))
        expect(yield* turns.cancelRequest(1)).toBe(true)
        yield* Deferred.await(cancelled)
        expect(yield* turns.cancel("t1")).toBe(true)
        expect(yield* turns.cancel("nope")).toBe(false)
      })
    ))

  it.live("a rewrite of a thread waits while a turn holds it, and a turn waits for a running rewrite", () =>
    withTurns((turns) =>
      Effect.gen(function* () {
        const turnScope = yield* Scope.make()
        const turn = yield* Scope.extend(turns.admit({ turnId: "t1", agentId: "a", requestId: 1, onCancel: Effect.void }), turnScope)
        yield* turn.holdThread("th")
        const rewrite = yield* Effect.fork(turns.withThread("th")(Effect.succeed("rewritten")))
        yield* Effect.sleep("30 millis")
        expect(yield* Fiber.poll(rewrite)).toEqual(expect.objectContaining({ _tag: "None" }))
        // Other threads are free.
        expect(yield* turns.withThread("other")(Effect.succeed(1))).toBe(1)
        yield* Scope.close(turnScope, Exit.void)
        expect(yield* Fiber.join(rewrite)).toBe("rewritten")

        const release = yield* Deferred.make<void>()
        const holding = yield* Effect.fork(turns.withThread("th")(Deferred.await(release)))
        yield* Effect.sleep("10 millis")
        const next = yield* Effect.fork(Effect.scoped(Effect.flatMap(turns.admit({ turnId: "t2", agentId: "a", requestId: 2, onCancel: Effect.void }), (t) => t.holdThread("th"))))
        yield* Effect.sleep("30 millis")
        expect(yield* Fiber.poll(next)).toEqual(expect.objectContaining({ _tag: "None" }))
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holding)
        yield* Fiber.join(next)
      })
    ))

  it.live("cancelAll cancels every running turn and waits until each has ended", () =>
    withTurns((turns) =>
      Effect.gen(function* () {
        const ended: Array<string> = []
        const fibers = yield* Effect.forEach(["t1", "t2"], (turnId, i) =>
          Effect.fork(
            Effect.scoped(
              Effect.flatMap(Deferred.make<void>(), (cancelled) =>
                Effect.zipRight(
                  turns.admit({ turnId, agentId: `a${i}`, requestId: i, onCancel: Deferred.succeed(cancelled, undefined) }),
                  Effect.zipRight(Deferred.await(cancelled), Effect.sync(() => ended.push(turnId)))
                ))
            )
          ))
        yield* Effect.sleep("20 millis")
        yield* turns.cancelAll
        yield* Fiber.joinAll(fibers)
        expect(ended.sort()).toEqual(["t1", "t2"])
      })
    ))
})
