/**
 * Finalizers for what a turn opens and releases every time (its admission, the app-server's
 * subscription and tool handlers, the thread's idle mark): added to the scope as they are, and run
 * by the fiber that closes it.
 *
 * `Effect.acquireRelease` and `Effect.addFinalizer` also put back, around each finalizer, the
 * fiber-local state of the moment it was added (every FiberRef, the whole service Context among
 * them): two diffs and two patches of all of it per finalizer, about 20 KB allocated and some 60
 * Effect operations, five times an app-server turn (docs/benchmarks.md, "The plugin's own CPU per
 * turn"). These finalizers read nothing fiber-local but the log annotations, which the closing
 * fiber, the turn's own, carries as well.
 */
import { Effect, type Exit, Scope } from "effect"

/** Like `Effect.acquireRelease`, for a release that needs no service and no fiber-local state of the acquiring fiber. */
export const acquireReleaseInScope = <A, E, R>(
  acquire: Effect.Effect<A, E, R>,
  release: (a: A, exit: Exit.Exit<unknown, unknown>) => Effect.Effect<unknown>
): Effect.Effect<A, E, R | Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) =>
    Effect.uninterruptible(Effect.tap(acquire, (a) => Scope.addFinalizerExit(scope, (exit) => release(a, exit)))))

/** Like `Effect.addFinalizer`, on the same terms. */
export const addFinalizerInScope = (finalizer: (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<unknown>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizerExit(scope, finalizer))
