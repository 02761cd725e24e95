/**
 * The system commands the plugin itself runs: `ss` (iproute2: which process is on the other end of
 * a bridge connection, src/core/bridge/PeerProcess.ts) and `flock` (util-linux: codex's writer lock
 * of a thread, src/core/codex/CodexWriterLock.ts). Found the way `binary` is
 * (src/core/codex/CodexBinary.ts): through PATH's absolute entries only, then the directories a
 * distribution installs them in. A relative entry ("", ".", "bin") would name a directory relative
 * to wherever the plugin was started, where anyone who can write there could plant an `ss` that
 * runs on every host-tool call. Looked up once per process; `doctor` shows what was found.
 */
import * as Path from "node:path"
import { isExecutableFile } from "./codex/CodexBinary.ts"

/** `perl` runs the fork server that starts codex (src/core/ForkServer.ts); without it codex is forked from the plugin. */
export type HelperName = "ss" | "flock" | "perl"

export const HELPER_NAMES: ReadonlyArray<HelperName> = ["ss", "flock", "perl"]

/** Where iproute2 and util-linux put their commands, searched after PATH. */
export const SYSTEM_COMMAND_DIRS: ReadonlyArray<string> = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]

/** What each helper is for, for messages that say what is missing. */
export const HELPER_PACKAGE: Record<HelperName, string> = { ss: "iproute2", flock: "util-linux", perl: "perl-base" }

/** The helper's absolute path, or undefined when no absolute PATH entry nor a system directory has it. */
export const resolveHelper = (
  name: HelperName,
  env: NodeJS.ProcessEnv = process.env,
  isExecutable: (file: string) => boolean = isExecutableFile
): string | undefined => {
  const fromPath = (env.PATH ?? "").split(Path.delimiter).filter((dir) => Path.isAbsolute(dir))
  const dirs = [...new Set([...fromPath, ...SYSTEM_COMMAND_DIRS])]
  return dirs.map((dir) => Path.join(dir, name)).find(isExecutable)
}

const resolved = new Map<HelperName, string | undefined>()

/** `resolveHelper` against this process's environment, looked up on first use and then remembered. */
export const helperPath = (name: HelperName): string | undefined => {
  if (!resolved.has(name)) resolved.set(name, resolveHelper(name))
  return resolved.get(name)
}
