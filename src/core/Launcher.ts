/** The absolute path of this plugin's executable, as codex must run it for `mcp-host`. */
import * as Fs from "node:fs"
import * as Path from "node:path"

export const pluginLauncher = (): string => {
  // Through bin/plexum-openai-provider-plugin (or a symlink to it, e.g. node_modules/.bin), argv[1] is that file.
  const invoked = process.argv[1] ?? ""
  try {
    return Fs.realpathSync(invoked)
  } catch {
    return Path.resolve(invoked)
  }
}
