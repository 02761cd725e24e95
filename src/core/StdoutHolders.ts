/**
 * A child's stdout after the child exited. Its end of file comes once every process holding the
 * write end is gone, and a process the child started may have kept it: such a holder is found by
 * the very descriptor it holds (`/proc/<pid>/fd`), named in a warn, and ended. Never a timer: the
 * reader waits for the end of file, and this only makes sure it can come.
 */
import { Effect } from "effect"
import * as Fs from "node:fs"
import { processesHolding } from "./ProcFds.ts"

/** Runs `f` after `n` turns of the event loop: each has a poll phase, where an end of file already sent is read. */
export const afterEventLoopTurns = (n: number, f: () => void): void => {
  if (n === 0) f()
  else setImmediate(() => afterEventLoopTurns(n - 1, f))
}

/** `n` turns of the event loop, as an effect (see `afterEventLoopTurns`). */
export const yieldToEventLoop = (n: number) => Effect.async<void>((resume) => afterEventLoopTurns(n, () => resume(Effect.void)))

/**
 * What a child's stdout is, as /proc names it (`socket:[N]`: Node gives a child one end of a socket
 * pair), read from the child itself as soon as it runs. Undefined when it cannot be read.
 */
export const stdoutLinkOf = (pid: number): string | undefined => {
  try {
    return Fs.readlinkSync(`/proc/${pid}/fd/1`)
  } catch {
    return undefined
  }
}

/**
 * Once `who` has exited: if its stdout has not ended within a few turns of the event loop, ends
 * every other process still holding `link`, with a warn.
 */
export const endStdoutHolders = (
  who: string,
  link: string | undefined,
  ended: Effect.Effect<boolean>,
  endProcesses: (pids: ReadonlyArray<number>) => Effect.Effect<void>
) =>
  Effect.gen(function* () {
    yield* yieldToEventLoop(3)
    if (link === undefined || (yield* ended)) return
    const holders = yield* Effect.promise(() => processesHolding(link))
    if (holders.length === 0) return // nobody holds it: the end of file is on its way
    yield* Effect.logWarning(`${who} exited, but process(es) ${holders.join(", ")} kept its stdout open; ending them`)
    yield* endProcesses(holders)
  })
