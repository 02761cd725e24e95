/**
 * The two things `doctor` needs from the operating system besides files:
 * finding an executable the way a shell would, and running a short command
 * (`codex --version`, `codex mcp list --json`) with a hard time limit.
 */
import { Effect, Schema } from "effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import { isExecutableFile } from "../codex/CodexBinary.ts"

/** Where `name` resolves: a path (has a slash) as given, else the first executable match on PATH. */
export const findExecutable = (name: string, env: NodeJS.ProcessEnv, cwd: string = process.cwd()): string | undefined => {
  const candidates = name.includes("/")
    ? [Path.resolve(cwd, name)]
    : (env.PATH ?? "")
        .split(Path.delimiter)
        .filter((dir) => Path.isAbsolute(dir))
        .map((dir) => Path.resolve(cwd, dir, name))
  return candidates.find(isExecutableFile)
}

export { isExecutableFile }

export interface ProgramOutput {
  readonly exitCode: number | null
  readonly stdout: string
  readonly stderr: string
}

export class ProgramFailed extends Schema.TaggedError<ProgramFailed>()("ProgramFailed", {
  file: Schema.String,
  message: Schema.String
}) {}

/** How checks run programs; tests pass a fake. */
export type RunProgram = (
  file: string,
  args: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv
) => Effect.Effect<ProgramOutput, ProgramFailed>

const OUTPUT_CAP = 4 * 1024 * 1024

/** Runs to completion; killed after `timeoutMs` (a stuck codex must not hang `doctor`). */
export const runProgram =
  (timeoutMs = 20_000): RunProgram =>
  (file, args, env) =>
    Effect.async<ProgramOutput, ProgramFailed>((resume) => {
      const child = ChildProcess.execFile(
        file,
        [...args],
        { env, timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: OUTPUT_CAP, encoding: "utf8" },
        (error, stdout, stderr) => {
          const code = error && typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : null
          if (error && code === null) {
            const why = error.killed ? `did not finish within ${timeoutMs / 1000} s` : error.message
            return resume(Effect.fail(new ProgramFailed({ file, message: `${file} ${args.join(" ")}: ${why}` })))
          }
          resume(Effect.succeed({ exitCode: error ? code : 0, stdout, stderr }))
        }
      )
      child.stdin?.end()
      return Effect.sync(() => {
        child.kill("SIGKILL")
      })
    })
