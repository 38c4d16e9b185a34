/**
 * `understudy manifest sign|verify`: the owner-signed manifest a workload carries. It names
 * the image by content hash, the replica count, the owner and the owner's data policy;
 * `understudy run --manifest FILE` sends the file's bytes, and every host checks them.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { ManifestInvalidError, UsageError } from '../../errors/index.ts'
import { type ManifestInput, signManifest, userIdOf, verifyManifest } from '../../policy/index.ts'
import { type CliIo, defaultIo, defaultUserKeyPath, readUserKeyFile, USER_KEY_ENV } from './keys.ts'

interface SignFlags {
  key?: string
  policy?: string
  name: string
  image: string
  replicas: number
  memoryMib?: number
  diskMib?: number
  out: string
}

export function manifestCommand(io: CliIo = defaultIo()): Command {
  const manifest = new Command('manifest')
    .description("a workload's owner-signed manifest: image, replicas and the data policy")
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')

  manifest
    .command('sign')
    .description('write a manifest signed with your user key, for `understudy run --manifest`')
    .requiredOption('--name <name>', 'the workload name (a-z 0-9 . _ -)')
    .requiredOption('--image <file>', 'the WebAssembly module; the manifest pins its SHA-256')
    .requiredOption('--replicas <n>', 'copies to keep: one primary and n-1 shadows', parseCount)
    .requiredOption('--out <file>', 'where to write the signed manifest (JSON)')
    .option(
      '--policy <file>',
      'the data policy, JSON { allow, deny, minSites } (default: any peer, one site)',
    )
    .option('--key <file>', `your user key (default $${USER_KEY_ENV} or ~/.config/understudy/user.key)`)
    .option('--memory-mib <n>', "the guest's memory, MiB (default 64)", parseCount)
    .option('--disk-mib <n>', "the guest's disk, MiB (default 256)", parseCount)
    .action(async (flags: SignFlags) => {
      const key = await readUserKeyFile(flags.key != null ? resolve(flags.key) : defaultUserKeyPath(io))
      const input: ManifestInput = {
        name: flags.name,
        image: { sha256: await sha256Of(resolve(flags.image)) },
        replicas: flags.replicas,
        owner: userIdOf(key),
        // Checked by signManifest, which names the first bad field.
        dataPolicy: (flags.policy == null
          ? {}
          : await readPolicy(resolve(flags.policy))) as ManifestInput['dataPolicy'],
        createdAt: new Date().toISOString(),
      }
      if (flags.memoryMib != null || flags.diskMib != null) {
        input.resources = {
          ...(flags.memoryMib != null ? { memoryMiB: flags.memoryMib } : {}),
          ...(flags.diskMib != null ? { diskMiB: flags.diskMib } : {}),
        }
      }
      const signed = await signManifest(input, key)
      const out = resolve(flags.out)
      await writeAtomically(out, `${JSON.stringify(signed, null, 2)}\n`)
      io.stderr.write(
        `understudy: signed manifest of ${signed.manifest.name} (owner ${signed.signer}) written to ${out}; ` +
          `start it with \`understudy run ${flags.image} --name ${signed.manifest.name} --manifest ${flags.out}\`\n`,
      )
      io.stdout.write(`${out}\n`)
    })

  manifest
    .command('verify')
    .description('check a signed manifest as a host would and print what it says')
    .argument('<file>', 'the signed manifest')
    .action(async (file: string) => {
      const path = resolve(file)
      let parsed: unknown
      try {
        parsed = JSON.parse(await readFile(path, 'utf8'))
      } catch (err) {
        throw new ManifestInvalidError('(root)', `cannot read ${path} as JSON: ${(err as Error).message}`, {
          cause: err,
        })
      }
      const m = await verifyManifest(parsed)
      io.stdout.write(
        [
          `name        ${m.name}`,
          `owner       ${m.owner} (signature verified)`,
          `image       sha256:${m.image.sha256}`,
          `replicas    ${m.replicas}, in at least ${m.dataPolicy.minSites} distinct site(s)`,
          `resources   ${m.resources.memoryMiB} MiB memory, ${m.resources.diskMiB} MiB disk`,
          `allow       ${JSON.stringify(m.dataPolicy.allow)}`,
          `deny        ${JSON.stringify(m.dataPolicy.deny)}`,
          `created     ${m.createdAt}`,
        ].join('\n') + '\n',
      )
    })

  return manifest
}

async function sha256Of(path: string): Promise<string> {
  try {
    return createHash('sha256')
      .update(await readFile(path))
      .digest('hex')
  } catch (err) {
    throw new UsageError(`cannot read the image ${path}: ${(err as Error).message}`)
  }
}

async function readPolicy(path: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new UsageError(`cannot read the data policy ${path}: ${(err as Error).message}`)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ManifestInvalidError(
      'dataPolicy',
      `the data policy ${path} is not JSON (${(err as Error).message}); it is an object { "allow": …, "deny": …, "minSites": n }`,
      { cause: err },
    )
  }
}

/** A temp file then a rename: a reader never sees half a manifest. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    await writeFile(tmp, text, { flag: 'wx' })
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {}) // only its absence matters now
    throw new UsageError(`cannot write the manifest ${path}: ${(err as Error).message}`)
  }
}

function parseCount(value: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of at least 1')
  return n
}
