// `npm run fleet:local -- --replicas N`: N engine replicas behind HAProxy on
// loopback (bench/lib/local_fleet.ts), until Ctrl-C. Prints where to send
// traffic and each replica's URL (for `ctr-engine fleet` or the bench).
import { parseArgs } from 'node:util';
import { startLocalFleet } from './lib/local_fleet.js';

const { values } = parseArgs({
  options: {
    replicas: { type: 'string', default: '2' },
    workers: { type: 'string', default: '1' },
    'check-interval-ms': { type: 'string', default: '500' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('usage: npm run fleet:local -- [--replicas 2] [--workers 1] [--check-interval-ms 500]\n'
    + '  starts N replicas (dist/bin/ctr-engine.js) and HAProxy (Debian: apt-get install haproxy) on loopback');
  process.exit(0);
}
const replicas = Number(values.replicas);
if (!Number.isInteger(replicas) || replicas < 1 || replicas > 16) {
  console.error('--replicas must be an integer in [1, 16]');
  process.exit(2);
}
const fleet = await startLocalFleet({ replicas, env: { WORKERS: String(values.workers) }, checkIntervalMs: Number(values['check-interval-ms']) });
console.log(`HAProxy: ${fleet.url}`);
fleet.replicas.forEach((r, i) => console.log(`replica ${i}: http://${r.host}:${r.port} (pid ${r.pid})`));
console.log('Ctrl-C stops them all');
const stop = () => { fleet.stop().then(() => process.exit(0), () => process.exit(1)); };
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
