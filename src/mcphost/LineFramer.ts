/**
 * Newline-delimited framing for the bridge socket, shared by both ends. Feed it
 * decoded text (socket.setEncoding("utf8") keeps multi-byte characters whole);
 * it returns the complete lines and keeps the unfinished tail.
 */
import { MAX_BRIDGE_LINE_CHARS } from "../schemas/BridgeEnv.ts"

export class LineTooLong extends Error {}

/**
 * `firstLineMaxChars` bounds the first line alone (the plugin's listener: a peer's hello is small,
 * and what a peer that has not been let in may make it hold should be too); every later line may
 * reach `maxChars`.
 */
export const makeLineFramer = (maxChars: number = MAX_BRIDGE_LINE_CHARS, firstLineMaxChars: number = maxChars) => {
  // The unfinished line, kept as pieces so a long line costs linear time.
  let pending: Array<string> = []
  let pendingChars = 0
  let limit = firstLineMaxChars
  const tooLong = () => new LineTooLong(`a bridge line is longer than ${limit} characters`)
  return (chunk: string): Array<string> => {
    const lines: Array<string> = []
    let start = 0
    for (let nl = chunk.indexOf("\n"); nl !== -1; nl = chunk.indexOf("\n", start)) {
      if (pendingChars + (nl - start) > limit) throw tooLong()
      pending.push(chunk.slice(start, nl))
      lines.push(pending.join(""))
      pending = []
      pendingChars = 0
      limit = maxChars
      start = nl + 1
    }
    if (start < chunk.length) {
      pending.push(chunk.slice(start))
      pendingChars += chunk.length - start
      if (pendingChars > limit) throw tooLong()
    }
    return lines.filter((line) => line.trim() !== "")
  }
}
