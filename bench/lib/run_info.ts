// What a result file needs to be read later: when, which commit, which
// machine, and how busy the machine already was (it is shared).
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface RunInfo {
  when: string;
  commit: string;
  dirty: boolean;
  node: string;
  cpus: number;
  cpuModel: string;
  loadavg: number[];
  command: string;
}

export function gitCommit(root: string): { commit: string; dirty: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim() !== '';
    return { commit, dirty };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

export function runInfo(root: string): RunInfo {
  const cpus = os.cpus();
  return {
    when: new Date().toISOString(), ...gitCommit(root), node: process.version,
    cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    command: process.argv.slice(1).join(' '),
  };
}
