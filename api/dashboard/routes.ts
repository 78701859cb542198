// GET /dashboard: one page, served from files under api/dashboard/static and
// uPlot from the installed package (node_modules/uplot/dist) — no build step,
// no CDN. Everything is read once, at registration, and served from memory.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { projectRoot } from '../../engine/config.js';
import { send } from '../respond.js';
import type { RouterLike } from '../http_transport.js';

export const DASHBOARD_PATH = '/dashboard';

interface Asset { type: string; body: Buffer; cache: string }

export function dashboardAssets(): Map<string, Asset> {
  const dir = join(projectRoot(), 'api', 'dashboard', 'static');
  const uplotDist = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));
  const page = (file: string, type: string): Asset => ({ type, body: readFileSync(join(dir, file)), cache: 'no-cache' });
  const lib = (file: string, type: string): Asset => ({ type, body: readFileSync(join(uplotDist, file)), cache: 'public, max-age=86400' });
  const html = page('index.html', 'text/html; charset=utf-8');
  return new Map([
    [DASHBOARD_PATH, html],
    [`${DASHBOARD_PATH}/`, html],
    [`${DASHBOARD_PATH}/app.js`, page('app.js', 'text/javascript; charset=utf-8')],
    [`${DASHBOARD_PATH}/app.css`, page('app.css', 'text/css; charset=utf-8')],
    [`${DASHBOARD_PATH}/uplot.iife.min.js`, lib('uPlot.iife.min.js', 'text/javascript; charset=utf-8')],
    [`${DASHBOARD_PATH}/uplot.min.css`, lib('uPlot.min.css', 'text/css; charset=utf-8')],
  ]);
}

export function registerDashboardRoutes(app: RouterLike): void {
  for (const [path, a] of dashboardAssets()) {
    app.get(path, (res) => send(res, 200, a.type, a.body, 'Cache-Control', a.cache));
  }
}
