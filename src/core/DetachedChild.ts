/**
 * Starting codex (`exec` or `app-server`) the one way both engines need it: the leader of a
 * process group of its own (one signal reaches every command it starts), stdio piped, the tail of
 * its stderr kept for error messages. It is handed over once the OS has started it; interrupted
 * before that, it is killed, because nobody else would ever end it.
 */
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"

export interface ChildExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** Keeps the last `limit` bytes written to it. */
export class StderrTail {
  private buf: Buffer = Buffer.alloc(0)
  constructor(private readonly limit: number) {}
  push(chunk: Buffer) {
    const joined = chunk.length >= this.limit ? chunk : Buffer.concat([this.buf, chunk])
    this.buf = joined.length > this.limit ? Buffer.from(joined.subarray(joined.length - this.limit)) : joined
  }
  /** As text for a one-line message: a cut inside a UTF-8 sequence and codex's ANSI colours dropped. */
  text() {
    return this.buf.toString("utf8").replace(/^\uFFFD+/, "").replace(/\u001b\[[0-9;]*m/g, "").trim()
  }
}

export interface DetachedChild {
  readonly child: ChildProcess.ChildProcessWithoutNullStreams
  readonly exit: Promise<ChildExit>
  readonly stderr: StderrTail
}

export interface DetachedSpawn {
  readonly binary: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  readonly env: Record<string, string | undefined>
}

/**
 * `failure` turns a start that failed into the caller's error: Node throws some (E2BIG, EINVAL)
 * and emits the others (ENOENT, EACCES) before `spawn`; an error after `spawn` (a kill or a write
 * racing the exit) changes nothing, the exit status decides.
 */
export const spawnDetached = <E>(
  spec: DetachedSpawn,
  options: { readonly stderrTailBytes: number; readonly failure: (err: NodeJS.ErrnoException) => E }
): Effect.Effect<DetachedChild, E> =>
  Effect.async((resume) => {
    const env: Record<string, string> = {}
    for (const [k, v] of Object.entries(spec.env)) if (v !== undefined) env[k] = v
    let child: ChildProcess.ChildProcessWithoutNullStreams
    try {
      child = ChildProcess.spawn(spec.binary, spec.args, { cwd: spec.cwd, env, detached: true, stdio: ["pipe", "pipe", "pipe"] })
    } catch (e) {
      return resume(Effect.fail(options.failure(e as NodeJS.ErrnoException)))
    }
    const stderr = new StderrTail(options.stderrTailBytes)
    child.stderr.on("data", (d: Buffer) => stderr.push(d))
    const exit = new Promise<ChildExit>((done) => child.once("exit", (code, signal) => done({ code, signal })))
    child.once("error", (err: NodeJS.ErrnoException) => {
      if (child.pid === undefined) resume(Effect.fail(options.failure(err)))
    })
    child.once("spawn", () => {
      child.on("error", () => {})
      // A write to a child that exited fails with EPIPE; its exit status says why it ended.
      child.stdin.on("error", () => {})
      resume(Effect.succeed({ child, exit, stderr }))
    })
    return Effect.sync(() => {
      if (child.pid === undefined) return
      try {
        process.kill(-child.pid, "SIGKILL")
      } catch {
        // already gone
      }
    })
  })
