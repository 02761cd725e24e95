/**
 * Stream operations for the turn's hot path: a consumer written over `Stream.toPull`, and a scoped
 * stream without a layer of its own. How a turn is stopped (cancel, timeout) while its stream is
 * consumed: TurnRunnerLive's `writeEventsUntilStopped`.
 *
 * Why not `Stream.runForEachChunk` and `Stream.mapChunksEffect`: in Effect 3 both leave each chunk
 * they pass reachable from objects V8 has already moved to its old generation, so every chunk of a
 * turn survives the young-generation collections and is copied, then promoted, before a full
 * collection frees it. Measured on 300,000 decoded codex events: 17 MB promoted with either of
 * them, 0.3 MB with a pull loop. A per-chunk `Effect.gen` does the same, so `f` should build its
 * effect without one. In the plugin this was most of the time it spent collecting (docs/benchmarks.md).
 */
import { Channel, type Chunk, Effect, Option, Scope, Stream } from "effect"

/**
 * Runs `f` on each chunk in order, like `Stream.runForEachChunk`: one pull loop, no `Effect.gen`
 * per chunk. What the stream opened is released when the caller's scope closes: a turn already has
 * one, and each scope more costs a copy of the fiber's whole service Context, going in and out.
 */
export const forEachChunk = <A, E, R, E2, R2>(
  stream: Stream.Stream<A, E, R>,
  f: (chunk: Chunk.Chunk<A>) => Effect.Effect<void, E2, R2>
): Effect.Effect<void, E | E2, R | R2 | Scope.Scope> =>
  Effect.flatMap(Stream.toPull(stream), (pull) => {
    const loop: Effect.Effect<void, E | E2, R | R2> = Effect.matchEffect(pull, {
      // `None` is the stream's end; `Some` its own failure, as it is.
      onFailure: (end) => Option.isNone(end) ? Effect.void : Effect.fail(end.value),
      onSuccess: (chunk) => Effect.zipRight(f(chunk), loop)
    })
    return loop
  })

/**
 * `Stream.unwrapScoped` without its layer: the stream `open` makes runs in a scope of its own,
 * closed when the stream ends, fails or is interrupted, and its chunks pass to the consumer as they
 * are. `Stream.unwrapScoped` is a `flatMap` over a one-element stream, which runs the stream it
 * opens in an executor of its own: every chunk of the turn crossed one more layer of the channel
 * machinery (docs/benchmarks.md, "The plugin's own CPU per turn").
 */
export const scopedStream = <A, E, R>(open: Effect.Effect<Stream.Stream<A, E, R>, E, R | Scope.Scope>): Stream.Stream<A, E, Exclude<R, Scope.Scope>> =>
  Stream.fromChannel(
    Channel.acquireUseRelease(
      Scope.make(),
      (scope) => Channel.unwrap(Effect.map(Scope.extend(open, scope), Stream.toChannel)),
      (scope, exit) => Scope.close(scope, exit)
    )
  ) as Stream.Stream<A, E, Exclude<R, Scope.Scope>>
