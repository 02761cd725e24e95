/**
 * codex splits an `--image` value at commas, so a path with a comma reaches it as
 * two wrong paths. Such an image is passed through a comma-free symlink that
 * lives as long as the turn's scope.
 */
import { Effect } from "effect"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"

export const commaFreeImagePaths = (images: ReadonlyArray<string>) =>
  images.some((p) => p.includes(","))
    ? Effect.acquireRelease(
        Effect.promise(async () => {
          const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "plexum-images-"))
          const paths = await Promise.all(
            images.map(async (image, i) => {
              if (!image.includes(",")) return image
              const alias = Path.join(dir, `${i}${Path.extname(image).replace(/,/g, "")}`)
              await Fs.symlink(image, alias)
              return alias
            })
          )
          return { dir, paths }
        }),
        ({ dir }) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
      ).pipe(Effect.map(({ paths }) => paths as ReadonlyArray<string>))
    : Effect.succeed(images)
