// A built copy of another git ref, for the regression gate: a detached
// worktree under the OS temp folder, node_modules linked from this tree when
// the lockfiles match (npm ci otherwise), compiled with this tree's tsc.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BuiltTree { root: string; commit: string; label: string; reused: boolean }

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

export function resolveCommit(repo: string, ref: string): string {
  try {
    return git(repo, 'rev-parse', '--verify', `${ref}^{commit}`);
  } catch {
    throw new Error(`cannot resolve git ref "${ref}"`);
  }
}

/** Entry points a build must emit: each item is met when any one of its alternatives exists (layouts differ across refs). */
export type EntryAlternatives = readonly string[];

const emitted = (root: string, alternatives: EntryAlternatives) => alternatives.some((e) => existsSync(join(root, e)));

/** Compiles a tree with the main tree's TypeScript. Others' half-written files may fail to type-check; what matters is that the entry points were emitted. */
export function buildTree(root: string, tscFrom: string, entries: EntryAlternatives[], log: (l: string) => void): void {
  const tsc = join(tscFrom, 'node_modules/typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', '.'], { cwd: root, encoding: 'utf8' });
  const missing = entries.filter((e) => !emitted(root, e)).map((e) => e.join(' or '));
  if (r.status !== 0) log(`tsc reported errors in ${root} (exit ${r.status}); continuing as the entry points were emitted:\n${(r.stdout + r.stderr).split('\n').slice(0, 8).join('\n')}`);
  if (missing.length > 0) throw new Error(`build of ${root} did not produce ${missing.join(', ')}`);
}

export function prepareWorktree(repo: string, ref: string, entries: EntryAlternatives[], log: (l: string) => void): BuiltTree {
  const commit = resolveCommit(repo, ref);
  const dir = join(tmpdir(), `ctr-bench-${commit.slice(0, 12)}`);
  const marker = join(dir, '.bench-built');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === commit && entries.every((e) => emitted(dir, e))) {
    log(`reusing built worktree ${dir}`);
    return { root: dir, commit, label: ref, reused: true };
  }
  if (existsSync(dir)) {
    try { git(repo, 'worktree', 'remove', '--force', dir); } catch { rmSync(dir, { recursive: true, force: true }); }
    git(repo, 'worktree', 'prune');
  }
  log(`git worktree add ${dir} ${commit.slice(0, 12)} (${ref})`);
  git(repo, 'worktree', 'add', '--detach', dir, commit);
  const lockHere = join(repo, 'package-lock.json');
  const lockThere = join(dir, 'package-lock.json');
  const same = existsSync(lockHere) && existsSync(lockThere) && readFileSync(lockHere, 'utf8') === readFileSync(lockThere, 'utf8');
  if (same) {
    // Identical lockfiles: the installed tree is the one npm ci would produce.
    symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
    log('package-lock.json identical: node_modules linked from the main tree');
  } else {
    log('package-lock.json differs: npm ci in the worktree (slow)');
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`npm ci failed in ${dir}`);
  }
  buildTree(dir, same ? repo : dir, entries, log);
  writeFileSync(marker, commit);
  return { root: dir, commit, label: ref, reused: false };
}

export function removeWorktree(repo: string, dir: string): void {
  try { git(repo, 'worktree', 'remove', '--force', dir); } catch { rmSync(dir, { recursive: true, force: true }); }
  try { git(repo, 'worktree', 'prune'); } catch { /* nothing to prune */ }
}
