/**
 * Two Stream operations for the turn's hot path, written over `Stream.toPull`.
 *
 * Why not `Stream.runForEachChunk` and `Stream.mapChunksEffect`: in Effect 3 both leave each chunk
 * they pass reachable from objects V8 has already moved to its old generation, so every chunk of a
 * turn survives the young-generation collections and is copied, then promoted, before a full
 * collection frees it. Measured on 300,000 decoded codex events: 17 MB promoted with either of
 * them, 0.3 MB with a pull loop. A per-chunk `Effect.gen` does the same, so `f` should build its
 * effect without one. In the plugin this was most of the time it spent collecting (docs/benchmarks.md).
 */
import { Cause, Chunk, Effect, Exit, Fiber, Option, Queue, type Scope, Stream } from "effect"

/** The next chunk, `None` when the stream has ended; the stream's own failure as it is. */
const nextChunk = <A, E, R>(pull: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>, R>): Effect.Effect<Option.Option<Chunk.Chunk<A>>, E, R> =>
  Effect.catchAll(Effect.map(pull, Option.some), (end) => Option.isNone(end) ? Effect.succeedNone : Effect.fail(end.value))

/** Runs `f` on each chunk in order, like `Stream.runForEachChunk`. */
export const forEachChunk = <A, E, R, E2, R2>(
  stream: Stream.Stream<A, E, R>,
  f: (chunk: Chunk.Chunk<A>) => Effect.Effect<void, E2, R2>
): Effect.Effect<void, E | E2, R | R2> =>
  Effect.scoped(
    Effect.gen(function* () {
      const pull = yield* Stream.toPull(stream)
      for (;;) {
        const chunk = yield* nextChunk(pull)
        if (Option.isNone(chunk)) return
        yield* f(chunk.value)
      }
    })
  )

/** Maps each chunk with an effect, like `Stream.mapChunksEffect`. */
export const mapChunksEffect = <A, E, R, B, E2, R2>(
  stream: Stream.Stream<A, E, R>,
  f: (chunk: Chunk.Chunk<A>) => Effect.Effect<Chunk.Chunk<B>, E2, R2>
): Stream.Stream<B, E | E2, R | R2> =>
  Stream.unwrapScoped(
    Effect.map(Stream.toPull(stream), (pull) =>
      Stream.repeatEffectChunkOption(
        Effect.flatMap(pull as Effect.Effect<Chunk.Chunk<A>, Option.Option<E | E2>, R>, (chunk) => Effect.mapError(f(chunk), Option.some))
      )
    )
  )


/** Each chunk, then how the stream ended (`None` when it simply ended), as the consumer sees it. */
type Handoff<A, E> = Queue.Queue<Exit.Exit<Chunk.Chunk<A>, Option.Option<E>>>

/**
 * Runs `stream` in a fiber of its own in the scope, handing each chunk over through a queue of one,
 * until `stop` fails (or dies): then the stream is interrupted, its scope has closed (ending
 * whatever it opened), and the queue's last item is `stop`'s cause.
 */
const handOver = <A, E, R, E2, R2>(
  stream: Stream.Stream<A, E, R>,
  stop: Effect.Effect<never, E2, R2>
): Effect.Effect<Handoff<A, E | E2>, never, R | R2 | Scope.Scope> =>
  Effect.gen(function* () {
    const handoff: Handoff<A, E | E2> = yield* Queue.bounded<Exit.Exit<Chunk.Chunk<A>, Option.Option<E | E2>>>(1)
    const failed = (cause: Cause.Cause<E | E2>) => Queue.offer(handoff, Exit.failCause(Cause.map(cause, Option.some)))
    let stopped = false
    const producer = yield* forEachChunk(stream, (chunk) => Queue.offer(handoff, Exit.succeed(chunk))).pipe(
      Effect.onExit((exit) =>
        Exit.isSuccess(exit) ? Queue.offer(handoff, Exit.fail(Option.none())) : stopped ? Effect.void : failed(exit.cause)
      ),
      Effect.forkScoped
    )
    // A `stop` that dies stops the stream too, with its defect; its interruption (the scope closing) does not.
    yield* stop.pipe(
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.void
          : Effect.suspend(() => {
            stopped = true
            return Effect.zipRight(Fiber.interrupt(producer), failed(cause))
          })
      ),
      Effect.forkScoped
    )
    // Runs first when the consumer is done early: an offer that waits for it is interrupted.
    yield* Effect.addFinalizer(() => Queue.shutdown(handoff))
    return handoff
  })

/**
 * Runs `f` on each chunk of `stream` until the stream ends or `stop` fails (or dies), like
 * `Stream.runForEachChunk(Stream.interruptWhen(stream, stop), f)`: on stop the stream is
 * interrupted, its scope has closed (ending whatever it opened), and then this fails with `stop`'s
 * cause. The stream runs in one fiber of its own that hands each chunk over through a queue of
 * one, and `f` runs here on each chunk taken: `Stream.interruptWhen` forks a fiber for every chunk,
 * which cost a turn some 7–10% of its throughput (docs/benchmarks.md, "100,000 codex events"), and a
 * Stream around the consumer's side cost every event three Stream layers more.
 */
export const forEachChunkUntilStopped = <A, E, R, E2, R2, E3, R3>(
  stream: Stream.Stream<A, E, R>,
  stop: Effect.Effect<never, E2, R2>,
  f: (chunk: Chunk.Chunk<A>) => Effect.Effect<void, E3, R3>
): Effect.Effect<void, E | E2 | E3, R | R2 | R3> =>
  Effect.scoped(
    Effect.flatMap(handOver(stream, stop), (handoff) => {
      const next: Effect.Effect<void, E | E2 | E3, R3> = Effect.flatMap(Queue.take(handoff), (taken) => {
        if (Exit.isSuccess(taken)) return Effect.zipRight(f(taken.value), next)
        // How the stream ended: `None` is its end; a failure is the stream's (or `stop`'s) own.
        const failure = Cause.failureOption(taken.cause)
        if (Option.isSome(failure) && Option.isNone(failure.value)) return Effect.void
        return Effect.failCause(Cause.map(taken.cause, (e) => Option.getOrThrow(e as Option.Option<E | E2>)))
      })
      return next
    })
  )
