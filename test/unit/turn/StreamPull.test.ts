import { it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, Ref, Stream } from "effect"
import { describe, expect } from "vitest"
import { forEachChunkUntilStopped } from "../../../src/core/StreamPull.ts"

class Stopped {
  readonly _tag = "Stopped"
}

/** A stream that says when its scope closed, emits `chunks`, then waits for `more` forever. */
const source = (chunks: ReadonlyArray<ReadonlyArray<number>>, log: Ref.Ref<ReadonlyArray<string>>, more: boolean) =>
  Stream.unwrapScoped(
    Effect.as(
      Effect.addFinalizer(() => Ref.update(log, (l) => [...l, "closed"])),
      Stream.concat(Stream.fromChunks(...chunks.map(Chunk.fromIterable)), more ? Stream.never : Stream.empty)
    )
  )

describe("forEachChunkUntilStopped", () => {
  const consumeUntil = <E, E2>(stream: Stream.Stream<number, E>, stop: Effect.Effect<never, E2>, log: Ref.Ref<ReadonlyArray<string>>) =>
    forEachChunkUntilStopped(stream, stop, (chunk) => Ref.update(log, (l) => [...l, `chunk ${Chunk.join(Chunk.map(chunk, String), ",")}`])).pipe(
      Effect.exit,
      Effect.tap((exit) => Ref.update(log, (l) => [...l, Exit.isSuccess(exit) ? "end" : "failed"]))
    )

  it.effect("runs on every chunk in order and ends when the stream ends, after its scope closed", () =>
    Effect.gen(function* () {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      yield* consumeUntil(source([[1, 2], [3], [4, 5, 6]], log, false), Effect.never, log)
      expect(yield* Ref.get(log)).toEqual(["chunk 1,2", "chunk 3", "chunk 4,5,6", "closed", "end"])
    }))

  it.effect("on stop, fails with the stop's failure once the stream's scope has closed; a dying stop with its defect", () =>
    Effect.gen(function* () {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const stop = yield* Deferred.make<never, Stopped>()
      const running = yield* Effect.fork(consumeUntil(source([[1]], log, true), Deferred.await(stop), log))
      yield* Effect.repeat(Ref.get(log), { until: (l) => l.length === 1 })
      yield* Deferred.fail(stop, new Stopped())
      expect(yield* Fiber.join(running)).toEqual(Exit.fail(new Stopped()))
      expect(yield* Ref.get(log)).toEqual(["chunk 1", "closed", "failed"])

      const dying = yield* Deferred.make<never>()
      const second = yield* Effect.fork(consumeUntil(source([[2]], log, true), Deferred.await(dying), log))
      yield* Effect.repeat(Ref.get(log), { until: (l) => l.length === 4 })
      yield* Deferred.die(dying, new Error("stop broke"))
      const exit = yield* Fiber.join(second)
      expect(Exit.isFailure(exit) && exit.cause._tag === "Die").toBe(true)
      expect((yield* Ref.get(log)).slice(3)).toEqual(["chunk 2", "closed", "failed"])
    }))

  it.effect("the stream's failure and defects, and the consumer's own failure, come out as they are", () =>
    Effect.gen(function* () {
      const failure = yield* Effect.flip(forEachChunkUntilStopped(Stream.concat(Stream.make(1), Stream.fail("bad")), Effect.never, () => Effect.void))
      expect(failure).toBe("bad")
      const defect = yield* Effect.exit(forEachChunkUntilStopped(Stream.dieMessage("boom"), Effect.never, () => Effect.void))
      expect(Exit.isFailure(defect) && defect.cause._tag === "Die").toBe(true)
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const own = yield* Effect.flip(forEachChunkUntilStopped(source([[1], [2]], log, true), Effect.never, () => Effect.fail("consumer")))
      expect(own).toBe("consumer")
      expect(yield* Ref.get(log)).toEqual(["closed"])
    }))
})
