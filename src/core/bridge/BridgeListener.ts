/**
 * The bridge's listening socket for one turn, as a scoped resource: bound in the profile's private
 * directory (or in a directory of the turn's own in /tmp), restricted to 0600, and on the scope's
 * end closed, unlinked, and its directory removed once it holds no other turn's socket.
 *
 * A socket file left by a crashed plugin is taken over; one a live plugin listens on is not.
 */
import { Effect, Schedule, type Scope } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import { BridgeError } from "../../services/ToolBridge.ts"
import { ensurePrivateDir, makeTempSocketDir, removeDirIfEmpty } from "./SocketPath.ts"

/** How often a bind is retried when another turn's cleanup removed the (empty) directory meanwhile. */
const BIND_ATTEMPTS = 5

const codeOf = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code

const listen = (server: Net.Server, path: string) =>
  Effect.async<void, NodeJS.ErrnoException>((resume) => {
    const onError = (e: Error) => resume(Effect.fail(e))
    server.once("error", onError)
    server.listen(path, () => {
      server.off("error", onError)
      resume(Effect.void)
    })
  })

/** Whether something accepts connections at `path` (a live plugin), or the file is a leftover. */
const isLive = (path: string) =>
  Effect.async<boolean>((resume) => {
    const probe = Net.connect(path)
    probe.once("connect", () => {
      probe.destroy()
      resume(Effect.succeed(true))
    })
    probe.once("error", () => resume(Effect.succeed(false)))
  })

/** Binds the socket; a leftover file from a crashed run is removed, a live listener is not. */
const bind = (server: Net.Server, socketPath: string, fail: (message: string, cause?: unknown) => BridgeError) =>
  listen(server, socketPath).pipe(
    Effect.catchIf(
      (e) => e.code === "EADDRINUSE",
      () =>
        Effect.gen(function* () {
          if (yield* isLive(socketPath)) return yield* fail(`another live plugin is already listening on ${socketPath}`)
          yield* Effect.try({
            try: () => {
              if (!Fs.lstatSync(socketPath).isSocket()) throw new Error(`${socketPath} exists and is not a socket`)
              Fs.unlinkSync(socketPath)
            },
            catch: (e) => e as NodeJS.ErrnoException
          })
          return yield* listen(server, socketPath)
        })
    )
  )

/**
 * Prepares the private directory and binds in it. The directory goes when its last socket does
 * (the release below), so another turn of this profile may remove it between the two steps: then
 * both are simply done again.
 */
const bindInPrivateDir = (server: Net.Server, socketPath: string, fail: (message: string, cause?: unknown) => BridgeError) =>
  Effect.try({
    try: () => ensurePrivateDir(Path.dirname(socketPath)),
    catch: (e) => fail(`cannot prepare the socket directory: ${(e as Error).message}`, e)
  }).pipe(
    Effect.zipRight(bind(server, socketPath, fail)),
    Effect.retry({ while: (e) => codeOf(e) === "ENOENT", schedule: Schedule.recurs(BIND_ATTEMPTS - 1) })
  )

const removeDir = (dir: string) =>
  Effect.try(() => removeDirIfEmpty(dir)).pipe(
    Effect.catchAll((e) => Effect.logWarning("cannot remove the bridge socket directory").pipe(Effect.annotateLogs({ dir, error: String(e.error) })))
  )

/** Where a turn's listener goes: `dir` the profile's fixed directory or, when undefined, a new one of the turn's own in /tmp. */
export interface SocketPlace {
  readonly fixedDir: string | undefined
  readonly dir: string
  readonly socketPath: string
}

/** The socket's place; a directory of the turn's own goes with the scope, bound in or not. */
export const socketPlace = (fixedDir: string | undefined, fileName: string): Effect.Effect<SocketPlace, BridgeError, Scope.Scope> =>
  Effect.map(
    fixedDir === undefined
      ? Effect.acquireRelease(
          Effect.try({
            try: makeTempSocketDir,
            catch: (e) =>
              new BridgeError({ socketPath: "/tmp", message: `cannot make a private socket directory in /tmp: ${(e as Error).message}`, cause: e })
          }),
          removeDir
        )
      : Effect.succeed(fixedDir),
    (dir) => ({ fixedDir, dir, socketPath: Path.join(dir, fileName) })
  )

/**
 * Listens at `place` until the scope closes, handing each accepted socket to `onConnection` (set
 * before the bind, so none is accepted without it). The release stops accepting and unlinks the
 * socket; the connections already accepted are their handler's to end.
 */
export const listenScoped = (place: SocketPlace, onConnection: (socket: Net.Socket) => void): Effect.Effect<void, BridgeError, Scope.Scope> => {
  const { fixedDir, dir, socketPath } = place
  const fail = (message: string, cause?: unknown) => new BridgeError({ socketPath, message, cause })
  return Effect.acquireRelease(
    Effect.suspend(() => {
      const server = Net.createServer(onConnection)
      // The turn's own /tmp directory is fresh and empty: nothing to prepare or to take over.
      const bound = fixedDir === undefined ? listen(server, socketPath) : bindInPrivateDir(server, socketPath, fail)
      return Effect.as(
        Effect.mapError(bound, (e) => (e instanceof BridgeError ? e : fail(`cannot listen on ${socketPath}: ${e.message}`, e))),
        server
      )
    }),
    // Only a socket we bound is ours to unlink: a failed bind may have met a live plugin's. The
    // last socket out removes the profile's directory; rmdir keeps one holding another turn's.
    (server) =>
      Effect.sync(() => {
        server.close()
        // server.close() unlinks the socket; make sure even if it did not.
        Fs.rmSync(socketPath, { force: true })
      }).pipe(Effect.zipRight(fixedDir === undefined ? Effect.void : removeDir(dir)))
  ).pipe(
    Effect.zipRight(
      Effect.try({
        try: () => Fs.chmodSync(socketPath, 0o600),
        catch: (e) => fail(`cannot restrict ${socketPath}: ${(e as Error).message}`, e)
      })
    )
  )
}
