import { type ParseArgsConfig, parseArgs } from 'node:util';

/**
 * The local commands' shared front: parse the options, answer `--help`, and refuse a bad option
 * or a `--sub` that is not a UUID with one line and exit code 2.
 */
export function commandLine<O extends NonNullable<ParseArgsConfig['options']>>(
  name: string,
  usage: string,
  options: O,
): { sub: string; values: Record<keyof O, string | boolean | undefined> } {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } } }));
  } catch (error) {
    return fail(name, (error as Error).message, usage);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const sub = values.sub;
  if (typeof sub !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(sub)) {
    return fail(name, '--sub must be a UUID', usage);
  }
  return { sub, values: values as Record<keyof O, string | boolean | undefined> };
}

export function fail(name: string, problem: string, usage: string): never {
  console.error(`${name}: ${problem}\n${usage}`);
  process.exit(2);
}

/**
 * The one line a local command prints when its call to the local stack failed, then exit 1:
 * nothing answers (start it), or it answered with an error (its name and first line).
 */
export function failCall(name: string, found: { url: string; source: string }, error: unknown): never {
  const e = error as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? e.name;
  const unreachable = ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN'].includes(
    code ?? '',
  );
  console.error(
    unreachable
      ? `${name}: no local stack answers at ${found.url} (from ${found.source}, ${code}): start it with \`npm start\`, or set PORT`
      : `${name}: ${found.url} (from ${found.source}) refused: ${e.name ?? 'Error'}: ${(e.message ?? String(error)).split('\n')[0]}`,
  );
  process.exit(1);
}
