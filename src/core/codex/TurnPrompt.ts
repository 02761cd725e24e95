/**
 * The prompt codex reads on stdin, and the images attached with `--image`.
 *
 * A resumed thread already holds the conversation, so it gets only what is new: the
 * messages after the last assistant message. A new thread whose request carries earlier
 * turns (a conversation begun elsewhere) gets a readable transcript of them first.
 */
import * as Path from "node:path"
import type { ContentPart, Message } from "../../schemas/Protocol.ts"

export interface TurnPrompt {
  readonly text: string
  /** Absolute paths of the new messages' images, in order. */
  readonly images: ReadonlyArray<string>
}

const parts = (content: Message["content"]): ReadonlyArray<ContentPart> =>
  typeof content === "string" ? [{ type: "text", text: content }] : content

// codex runs in the workspace, so a relative path already means the same there; resolving makes it explicit.
const resolve = (workspace: string | undefined, path: string) => (workspace ? Path.resolve(workspace, path) : path)

/** Text of a message; images become `[image: path]` (earlier turns) or go to `images` (new ones). */
const render = (message: Message, workspace: string | undefined, images?: Array<string>): string =>
  parts(message.content)
    .map((p) => {
      if (p.type === "text") return p.text
      const path = resolve(workspace, p.path)
      if (images) {
        images.push(path)
        return ""
      }
      return `[image: ${path}]`
    })
    .filter((t) => t !== "")
    .join("\n")

const lastAssistant = (messages: ReadonlyArray<Message>) => {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]!.role === "assistant") return i
  return -1
}

const newPart = (messages: ReadonlyArray<Message>, workspace: string | undefined, images: Array<string>) =>
  messages
    .map((m) => {
      const text = render(m, workspace, images)
      // Only user messages are the user speaking; anything else is labelled so it is not mistaken for them.
      return m.role === "user" || text === "" ? text : `[${m.role}]\n${text}`
    })
    .filter((t) => t !== "")
    .join("\n\n")

const transcript = (messages: ReadonlyArray<Message>, workspace: string | undefined) =>
  messages
    .map((m) => `### ${m.role}\n${render(m, workspace) || "(empty)"}`)
    .join("\n\n")

export const buildTurnPrompt = (
  messages: ReadonlyArray<Message>,
  context: { readonly resumed: boolean; readonly workspace?: string | undefined }
): TurnPrompt => {
  const cut = lastAssistant(messages) + 1
  const images: Array<string> = []
  const fresh = newPart(messages.slice(cut), context.workspace, images)
  if (context.resumed || cut === 0) return { text: fresh, images }
  const text = [
    "This conversation began before this session. Transcript of it so far, oldest first:",
    "",
    transcript(messages.slice(0, cut), context.workspace),
    "",
    "--- end of transcript ---",
    "",
    "Continue the conversation. The new message:",
    "",
    fresh
  ].join("\n")
  return { text, images }
}
