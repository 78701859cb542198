// For a front end with no WebSocket server: the stream's URL and the
// dashboard (which runs over the stream) answer the spec's 404 saying why,
// not a silent one.
import { wantsMsgpack } from '../http_codec.js';
import type { RouterLike } from '../http_transport.js';
import { sendError } from '../respond.js';
import { DASHBOARD_PATH } from '../dashboard/routes.js';
import { STREAM_PATH } from './hub.js';

/** `why` completes "WS /monitoring/stream needs a WebSocket server and …". */
export function registerStreamUnavailableRoutes(app: RouterLike, why: string): void {
  const missing = `needs a WebSocket server and ${why}`;
  app.get(STREAM_PATH, (res, req) => sendError(res, 'not_found', `WS ${STREAM_PATH} ${missing}`, wantsMsgpack(req.getHeader('accept'))));
  app.get(DASHBOARD_PATH, (res, req) =>
    sendError(res, 'not_found', `the dashboard runs over WS ${STREAM_PATH} and so ${missing}`, wantsMsgpack(req.getHeader('accept'))));
}
