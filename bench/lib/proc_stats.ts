// CPU time and resident memory of another process, from /proc (Linux), so the
// report can say how much of the machine the server under test used.
import { readFileSync } from 'node:fs';

export interface ProcSample { cpuMs: number; rssKB: number }

const TICK_MS = 10; // USER_HZ is 100 on Linux

export function cpuTicks(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the ")" that closes the command name; utime and stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuMs = (Number(f[11]) + Number(f[12])) * TICK_MS;
    return { cpuMs, rssKB: rssKB(pid) };
  } catch {
    return null;
  }
}

export function rssKB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}
