/**
 * The argv of the long-lived `codex app-server` (PROTOCOL.md §8). Only configuration goes here:
 * the config's `extra_args` that `app-server` accepts (`-c`/`--config`, `--enable`, `--disable`),
 * and `-c thread_unload_delay_secs=0` so `thread/unsubscribe` unloads a thread at once (0.169+;
 * older versions ignore the key). Everything host-provided (prompts, system prompt, tools,
 * schemas) goes over stdin as JSON-RPC, never in argv.
 */
export interface AppServerArgv {
  readonly args: ReadonlyArray<string>
  /** A `-m`/`--model` from extra_args: the operator's choice, given to every thread. */
  readonly model: string | undefined
  /** extra_args this engine cannot pass to `app-server` (exec-only flags), for a warn. */
  readonly dropped: ReadonlyArray<string>
}

const VALUE_FLAGS = new Set(["-c", "--config", "--enable", "--disable"])
const MODEL_FLAGS = new Set(["-m", "--model"])

export const appServerArgv = (extraArgs: ReadonlyArray<string>): AppServerArgv => {
  const args: Array<string> = ["app-server"]
  const dropped: Array<string> = []
  let model: string | undefined
  for (let i = 0; i < extraArgs.length; i++) {
    const a = extraArgs[i]!
    const eq = a.indexOf("=")
    const flag = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a
    const glued = flag !== a ? a.slice(eq + 1) : undefined
    if (VALUE_FLAGS.has(flag) || MODEL_FLAGS.has(flag)) {
      const value = glued ?? extraArgs[++i]
      if (value === undefined) {
        dropped.push(a)
        continue
      }
      if (MODEL_FLAGS.has(flag)) model = value
      else args.push(flag, value)
    } else if (a.startsWith("-c") && a.length > 2) {
      args.push("-c", a.slice(2))
    } else if (a.startsWith("-m") && a.length > 2) {
      model = a.slice(2)
    } else {
      dropped.push(a)
    }
  }
  args.push("-c", "thread_unload_delay_secs=0")
  return { args, model, dropped }
}

/** `0.169.0` out of an app-server user agent such as `plexum/0.169.0 (Debian 12; x86_64) …`. */
export const versionOfUserAgent = (userAgent: string | undefined): string | undefined =>
  userAgent?.match(/\/(\d+\.\d+\.\d+)/)?.[1]

/** Compares dotted versions numerically: negative when a < b. */
export const compareVersions = (a: string, b: string): number => {
  const pa = a.split(".").map(Number)
  const pb = b.split(".").map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

/** The first version whose app-server unloads a thread on `thread/unsubscribe` (with delay 0). */
export const UNSUBSCRIBE_UNLOADS_FROM = "0.169.0"
/** The oldest codex whose app-server this engine has been checked against (CODEX.md). */
export const OLDEST_APP_SERVER = "0.135.0"

/** From this version `thread/resume` takes `excludeTurns: true` (the answer leaves the history out). */
export const RESUME_EXCLUDES_TURNS_FROM = "0.151.0"
