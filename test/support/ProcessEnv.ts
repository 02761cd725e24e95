// Test support: process environment entries set for a scope.
import { Effect } from "effect"

/**
 * `process.env` entries for the turn's codex (the exec engine hands codex the plugin's own
 * environment), restored when the scope ends.
 */
export const withEnv = (vars: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
      Object.assign(process.env, vars)
      return before
    }),
    (before) =>
      Effect.sync(() => {
        for (const [k, v] of Object.entries(before)) {
          if (v === undefined) delete process.env[k]
          else process.env[k] = v
        }
      })
  )
