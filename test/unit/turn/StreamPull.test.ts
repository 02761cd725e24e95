import { it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, Option, Ref, Stream } from "effect"
import { describe, expect } from "vitest"
import { forEachChunk, forEachChunkUntilStopped, interruptWhenStopped } from "../../../src/core/StreamPull.ts"

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

/** What a consumer sees: each chunk, then how the stream ended, in order with the source's close. */
const consume = <E>(stream: Stream.Stream<number, E>, log: Ref.Ref<ReadonlyArray<string>>) =>
  forEachChunk(stream, (chunk) => Ref.update(log, (l) => [...l, `chunk ${Chunk.join(Chunk.map(chunk, String), ",")}`])).pipe(
    Effect.exit,
    Effect.tap((exit) => Ref.update(log, (l) => [...l, Exit.isSuccess(exit) ? "end" : "failed"]))
  )

describe("interruptWhenStopped", () => {
  it.effect("passes every chunk in order and ends when the stream ends", () =>
    Effect.gen(function* () {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      yield* consume(interruptWhenStopped(source([[1, 2], [3], [4, 5, 6]], log, false), Effect.never), log)
      expect(yield* Ref.get(log)).toEqual(["chunk 1,2", "chunk 3", "chunk 4,5,6", "closed", "end"])
    }))

  it.effect("on stop, the stream's scope has closed before its failure reaches the consumer", () =>
    Effect.gen(function* () {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const stop = yield* Deferred.make<never, Stopped>()
      // The failure is noted where it arrives, inside the consumer's own stream, not after it has ended.
      const stopped = interruptWhenStopped(source([[1]], log, true), Deferred.await(stop)).pipe(
        Stream.tapErrorCause(() => Ref.update(log, (l) => [...l, "failure arrived"]))
      )
      const running = yield* Effect.fork(consume(stopped, log))
      // The stream waits forever after its chunk; only stop ends it.
      yield* Effect.repeat(Ref.get(log), { until: (l) => l.length === 1 })
      yield* Deferred.fail(stop, new Stopped())
      const exit = yield* Fiber.join(running)
      expect(exit).toEqual(Exit.fail(new Stopped()))
      expect(yield* Ref.get(log)).toEqual(["chunk 1", "closed", "failure arrived", "failed"])
    }))

  it.effect("a stop that dies stops the stream with its defect, after closing it", () =>
    Effect.gen(function* () {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const stop = yield* Deferred.make<never>()
      const running = yield* Effect.fork(consume(interruptWhenStopped(source([[1]], log, true), Deferred.await(stop)), log))
      yield* Effect.repeat(Ref.get(log), { until: (l) => l.length === 1 })
      yield* Deferred.die(stop, new Error("stop broke"))
      const exit = yield* Fiber.join(running)
      expect(Exit.isFailure(exit) && exit.cause._tag === "Die").toBe(true)
      expect(yield* Ref.get(log)).toEqual(["chunk 1", "closed", "failed"])
    }))

  it.effect("the stream's failure and defects reach the consumer as they are", () =>
    Effect.gen(function* () {
      const failure = yield* Effect.flip(Stream.runCollect(interruptWhenStopped(Stream.concat(Stream.make(1), Stream.fail("bad")), Effect.never)))
      expect(failure).toBe("bad")
      const defect = yield* Effect.exit(Stream.runCollect(interruptWhenStopped(Stream.dieMessage("boom"), Effect.never)))
      expect(Exit.isFailure(defect) && defect.cause._tag === "Die").toBe(true)
    }))

  it.effect("a consumer that stops early closes the stream's scope and does not hang", () =>
    Effect.gen(function* () {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const first = yield* Stream.runHead(interruptWhenStopped(source([[1], [2], [3]], log, true), Effect.never))
      expect(first).toEqual(Option.some(1))
      expect(yield* Ref.get(log)).toEqual(["closed"])
    }))
})

describe("forEachChunkUntilStopped", () => {
  /** `consume` of `interruptWhenStopped(stream, stop)`, with the chunks taken without a Stream. */
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
