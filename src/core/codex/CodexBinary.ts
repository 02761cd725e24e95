/**
 * Where config `binary` points, decided once at `initialize` (PROTOCOL.md §6): a bare name
 * through PATH, a relative path against the config file's directory, an absolute path as is.
 * Never against the agent's workspace: codex runs with `cwd: workspace`, and a model that
 * writes `bin/codex` there would otherwise have it run, outside any sandbox, on the next turn.
 * PATH entries that are not absolute ("" or ".") are skipped for the same reason.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"

export type ResolvedCodexBinary =
  | { readonly _tag: "Found"; readonly path: string }
  /** Nothing runnable: `path` keeps the setting as given, `reason` says where it looked. */
  | { readonly _tag: "NotFound"; readonly path: string; readonly reason: string }

export const isExecutableFile = (file: string): boolean => {
  try {
    if (!Fs.statSync(file).isFile()) return false
    Fs.accessSync(file, Fs.constants.X_OK)
    return true
  } catch {
    return false
  }
}

export const resolveCodexBinary = (
  binary: string,
  configPath: string,
  env: NodeJS.ProcessEnv,
  isExecutable: (file: string) => boolean = isExecutableFile
): ResolvedCodexBinary => {
  if (binary.includes("/")) {
    const path = Path.resolve(Path.dirname(Path.resolve(configPath)), binary)
    return isExecutable(path)
      ? { _tag: "Found", path }
      : { _tag: "NotFound", path, reason: `${path} does not exist or is not executable` }
  }
  const dirs = (env.PATH ?? "").split(Path.delimiter).filter((dir) => Path.isAbsolute(dir))
  const path = dirs.map((dir) => Path.join(dir, binary)).find(isExecutable)
  return path !== undefined
    ? { _tag: "Found", path }
    : { _tag: "NotFound", path: binary, reason: `\`${binary}\` is not on PATH (absolute PATH entries only)` }
}
