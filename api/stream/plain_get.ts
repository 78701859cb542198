// A plain GET of the stream's URL (no Upgrade header) on the uWS front end:
// uWS hands non-upgrade requests on past its ws() route, so without this the
// catch-all would answer a bare 404. Register after registerStreamRoutes.
import { wantsMsgpack } from '../http_codec.js';
import type { RouterLike } from '../http_transport.js';
import { sendError } from '../respond.js';
import { STREAM_PATH } from './hub.js';

export function registerStreamPlainGet(app: RouterLike): void {
  const message = `GET ${STREAM_PATH} is a WebSocket: connect with a WebSocket client (ws://…${STREAM_PATH}?interval=1000&format=json), ` +
    'or poll GET /monitoring/stats; the dashboard at /dashboard uses it';
  app.get(STREAM_PATH, (res, req) => {
    const close = req.getHeader('content-length') !== '';
    sendError(res, 'upgrade_required', message, wantsMsgpack(req.getHeader('accept')), undefined, close, 'Upgrade', 'websocket');
  });
}
