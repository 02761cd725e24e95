/**
 * Starting codex (`exec` or `app-server`) the one way both engines need it: the leader of a
 * process group of its own (one signal reaches every command it starts), stdio piped, the tail of
 * its stderr kept for error messages. It is handed over once the OS has started it; interrupted
 * before that, it is killed, because nobody else would ever end it. Two ways to the same child:
 * node's spawn (`spawnDetached`, a fork of the plugin: the app-server, started once) and the fork
 * server (`launchDetached`, src/core/ForkServer.ts: `codex exec`, every turn); with the latter,
 * `forkServerOnce` (the server, started once per plugin) and `outputOf` (a short command's output).
 */
import { Deferred, Effect, FiberId, FiberRef, HashMap, Runtime, Scope } from "effect"
import * as ChildProcess from "node:child_process"
import type { Readable, Writable } from "node:stream"
import { FORK_SERVER_FAILED, type ForkServer, killGroup, startForkServer } from "./ForkServer.ts"
import { helperPath } from "./HelperCommands.ts"

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

/** What the engines use of a started child: node's own ChildProcess, or the fork server's. */
export interface ChildHandle {
  readonly pid?: number | undefined
  readonly stdin: Writable
  readonly stdout: Readable
  readonly stderr: Readable
  readonly exitCode: number | null
  readonly signalCode: NodeJS.Signals | null
}

export interface DetachedChild {
  readonly child: ChildHandle
  readonly exit: Promise<ChildExit>
  readonly stderr: StderrTail
}

export interface DetachedSpawn {
  readonly binary: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  readonly env: Record<string, string | undefined>
}

const definedEnv = (given: Record<string, string | undefined>) => {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(given)) if (v !== undefined) env[k] = v
  return env
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
    const env = definedEnv(spec.env)
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
      if (child.pid !== undefined) killGroup(child.pid)
    })
  })

/**
 * `spawnDetached` through the fork server (src/core/ForkServer.ts): the same child, the same
 * errors, without forking the plugin. Interrupted before the child is handed over, it is killed
 * once it has started.
 */
export const launchDetached = <E>(
  server: ForkServer,
  spec: DetachedSpawn,
  options: { readonly stderrTailBytes: number; readonly failure: (err: NodeJS.ErrnoException) => E }
): Effect.Effect<DetachedChild, E> =>
  Effect.async((resume) => {
    let interrupted = false
    server.launch({ binary: spec.binary, args: spec.args, cwd: spec.cwd, env: definedEnv(spec.env) }).then(
      (child) => {
        if (interrupted) {
          killGroup(child.pid)
          for (const s of [child.stdin, child.stdout, child.stderr]) s.destroy()
          return
        }
        const stderr = new StderrTail(options.stderrTailBytes)
        child.stderr.on("data", (d: Buffer) => stderr.push(d))
        child.stderr.resume()
        // A write to a child that exited fails with EPIPE; its exit status says why it ended.
        child.stdin.on("error", () => {})
        resume(Effect.succeed({ child, exit: child.exit, stderr }))
      },
      (err: NodeJS.ErrnoException) =>
        resume(err.code === FORK_SERVER_FAILED
          // The server could not make this launch (not the program's own start): said, and started the old way.
          ? Effect.zipRight(Effect.logWarning(`${err.message}; ${spec.binary} is started by forking the plugin this time`), spawnDetached(spec, options))
          : Effect.fail(options.failure(err)))
    )
    return Effect.sync(() => {
      interrupted = true
    })
  })

/**
 * The plugin's fork server, started by the first caller and ended with `scope`. Undefined where it
 * cannot run (no perl, or it failed to start): said once as a warn, and codex is forked from the
 * plugin as before. The first caller claims the start through a Deferred (no fiber refs cross).
 */
export const forkServerOnce = (scope: Scope.Scope): Effect.Effect<ForkServer | undefined> => {
  const claimed = Deferred.unsafeMake<void>(FiberId.none)
  const started = Deferred.unsafeMake<ForkServer | undefined>(FiberId.none)
  const start = Effect.suspend(() => {
    // The server closes what it does not hand on by reading /proc: elsewhere node's spawn it is.
    if (process.platform !== "linux") return Effect.succeed(undefined)
    const perl = helperPath("perl")
    if (perl === undefined) {
      return Effect.as(Effect.logWarning("perl was not found: codex is started by forking the plugin, which costs each exec turn some 15 ms of CPU"), undefined)
    }
    // A server that died is started again by the next launch; said as a warn where it is told.
    return Effect.flatMap(Effect.runtime<never>(), (runtime) => Effect.tryPromise(() => startForkServer(perl, (why) =>
      // The first caller's runtime, without its turn's annotations: the restart is no turn's.
      Runtime.runFork(runtime)(Effect.locally(Effect.logWarning(`the fork server ${why}; starting it again`), FiberRef.currentLogAnnotations, HashMap.empty()))))).pipe(
      Effect.tap((server) => Scope.addFinalizer(scope, Effect.sync(() => server.close()))),
      Effect.catchAll((e) => Effect.as(Effect.logWarning(`cannot start the fork server (${perl}): ${String(e.error)}; codex is started by forking the plugin`), undefined))
    )
  })
  return Effect.uninterruptible(Effect.flatMap(Deferred.succeed(claimed, undefined), (first) =>
    first ? Effect.zipRight(Effect.intoDeferred(start, started), Deferred.await(started)) : Deferred.await(started)))
}

/**
 * A short command through the fork server, as `execFile` runs one: its stdout read to its end,
 * and a failure for a non-zero exit, a signal, more than `maxBytes` of output, or no end within
 * `timeoutMs` of the call, its start included (killed then, or as soon as the server starts it: a
 * bound on a hung command, not a guess at when its output is done).
 */
export const outputOf = (
  server: ForkServer,
  file: string,
  args: ReadonlyArray<string>,
  limits: { readonly timeoutMs: number; readonly maxBytes: number }
): Promise<string> =>
  new Promise<string>((resolve, reject) => {
    let child: Awaited<ReturnType<ForkServer["launch"]>> | undefined
    let settled = false
    const end = (c: NonNullable<typeof child>) => {
      killGroup(c.pid)
      c.stdout.destroy()
      c.stderr.destroy()
    }
    const stop = (why: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (child !== undefined) end(child)
      reject(new Error(`${file} ${args.join(" ")}: ${why}`))
    }
    const timer = setTimeout(() => stop(`did not finish within ${limits.timeoutMs / 1000} s`), limits.timeoutMs)
    server.launch({ binary: file, args, cwd: "/", env: definedEnv(process.env) }).then((started) => {
      // Started after the time limit: it is not waited for.
      if (settled) return end(started)
      child = started
      const chunks: Array<Buffer> = []
      let bytes = 0
      started.stdin.end()
      started.stderr.resume()
      started.stdout.on("data", (d: Buffer) => {
        bytes += d.length
        if (bytes > limits.maxBytes) stop(`more than ${limits.maxBytes} bytes of output`)
        else chunks.push(d)
      })
      // Handed over paused (src/core/ForkServer.ts): a 'data' listener alone does not start it.
      started.stdout.resume()
      const ended = new Promise<void>((done) => started.stdout.once("close", () => done()))
      void Promise.all([ended, started.exit]).then(([, exit]) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (exit.code === 0) resolve(Buffer.concat(chunks).toString("utf8"))
        else reject(new Error(`${file} ${args.join(" ")}: ${exit.code !== null ? `exited with status ${exit.code}` : exit.signal !== null ? `killed by ${exit.signal}` : "ended, and how is unknown"}`))
      })
    }, (error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(error)
    })
  })
