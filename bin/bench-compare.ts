/**
 * `npm run bench:compare -- --base <rev> [--head <rev>] [--rounds N] [--quick]`: runs the benchmark
 * of two commits in one session on this machine, alternating them (base, head, base, head, …) so
 * that both see the same machine state, and prints each through-the-stack scenario's p95 for both
 * with their ratio, the best of the rounds for each. Each commit runs its own `npm run bench` in a
 * git worktree under .data/bench-compare/ with its own `npm ci`, so the base runs on whatever Node
 * and dependencies it pinned. Writes bench/results/compare-<base>-<head>.json.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchResults } from '../lib/bench/report';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    head: { type: 'string', default: 'HEAD' },
    rounds: { type: 'string', default: '1' },
    quick: { type: 'boolean', default: false },
  },
});
if (!args.base) throw new Error('--base <rev> is required');
const rounds = Number(args.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds takes a positive integer, not ${args.rounds}`);
const quick = args.quick ?? false;

const git = (...a: string[]) => execFileSync('git', a, { encoding: 'utf8' }).trim();
const revisions = [git('rev-parse', args.base), git('rev-parse', args.head ?? 'HEAD')];

function worktree(sha: string): string {
  const dir = resolve('.data', 'bench-compare', sha.slice(0, 10));
  if (!existsSync(dir)) {
    mkdirSync(resolve('.data', 'bench-compare'), { recursive: true });
    git('worktree', 'add', '--detach', dir, sha);
  }
  if (!existsSync(join(dir, 'node_modules'))) run(dir, 'npm', ['ci', '--no-audit', '--no-fund']);
  return dir;
}

/**
 * Each commit runs with only its own node_modules/.bin ahead of the machine's PATH: this
 * process's npm put ours first, and a commit that pinned no Node must run on the machine's.
 */
const machinePath = (process.env.PATH ?? '')
  .split(':')
  .filter((entry) => !entry.includes('node_modules'))
  .join(':');

function run(cwd: string, command: string, argv: string[]): void {
  const outcome = spawnSync(command, argv, { cwd, stdio: 'inherit', env: { ...process.env, PATH: machinePath } });
  if (outcome.status !== 0) throw new Error(`${command} ${argv.join(' ')} failed in ${cwd}`);
}

/** Where a commit's bench wrote its results: quick runs go to the temp folder, full runs to bench/results. */
function resultsOf(dir: string, startedAt: Date): BenchResults {
  const stamp = new Date().toISOString().slice(0, 10);
  const candidates = [join(dir, 'bench', 'results', `${stamp}.json`), join(tmpdir(), `bench-quick-${stamp}.json`)];
  const file = quick ? candidates[1]! : candidates[0]!;
  const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
  if (new Date(results.date) < startedAt) throw new Error(`${file} is older than this run`);
  return results;
}

type Best = Map<string, { name: string; p95: number; rps: number }>;
const best: Best[] = [new Map(), new Map()];
const machines: BenchResults['machine'][] = [];
const dirs = revisions.map(worktree);
for (let round = 0; round < rounds; round++) {
  // Alternate the order each round so neither commit always runs on a warmer machine.
  const order = round % 2 === 0 ? [0, 1] : [1, 0];
  for (const i of order) {
    const startedAt = new Date();
    console.log(`\n=== round ${round + 1}/${rounds}: ${revisions[i]!.slice(0, 10)} ===`);
    run(dirs[i]!, 'npm', ['run', '-s', 'bench', ...(quick ? ['--', '--quick'] : [])]);
    const results = resultsOf(dirs[i]!, startedAt);
    machines[i] = results.machine;
    for (const size of results.sizes) {
      for (const s of size.scenarios) {
        const key = `${size.size.label} · ${s.key ?? s.name}`;
        const seen = best[i]!.get(key);
        if (!seen || s.p95 < seen.p95)
          best[i]!.set(key, { name: `${size.size.label}: ${s.name}`, p95: s.p95, rps: s.rps });
      }
    }
  }
}

const rows = [...best[1]!.keys()].map((key) => {
  const b = best[0]!.get(key);
  const h = best[1]!.get(key)!;
  return {
    scenario: h.name,
    baseP95: b?.p95,
    headP95: h.p95,
    ratio: b ? h.p95 / b.p95 : undefined,
    baseRps: b?.rps,
    headRps: h.rps,
  };
});
const ms = (v: number | undefined) => (v === undefined ? '—' : `${v.toFixed(2)} ms`);
console.log(
  `\nbase ${revisions[0]} (node ${machines[0]?.node}), head ${revisions[1]} (node ${machines[1]?.node}), best of ${rounds} round(s)`,
);
console.log('| scenario | base p95 | head p95 | head/base | base req/s | head req/s |\n|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.scenario} | ${ms(r.baseP95)} | ${ms(r.headP95)} | ${r.ratio?.toFixed(2) ?? '—'} | ${r.baseRps?.toFixed(0) ?? '—'} | ${r.headRps.toFixed(0)} |`,
  );
}
mkdirSync(join('bench', 'results'), { recursive: true });
const out = join(
  'bench',
  'results',
  `compare-${revisions[0]!.slice(0, 7)}-${revisions[1]!.slice(0, 7)}${quick ? '-quick' : ''}.json`,
);
writeFileSync(
  out,
  `${JSON.stringify({ date: new Date().toISOString(), quick, rounds, revisions, machines, rows }, null, 1)}\n`,
);
console.log(`wrote ${out}`);
