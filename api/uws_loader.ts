// Loads uWebSockets.js natively, never its slow JS shim.
//
// Preference: the official `uWebSockets.js` package when it resolves (users
// install it from its GitHub releases), else the native binary inside
// `@trufflesuite/uws-js-unofficial` (uWS v20.30 republished on npm), loaded
// by path: that package's own entry point silently falls back to a pure-JS
// shim when its binary fails, which would cut throughput several-fold with no
// sign. If neither loads, this throws with every reason; the server then exits
// (or an operator chooses the native-free front end on purpose).
import { createRequire } from 'node:module';
import type * as UwsTypes from '@trufflesuite/uws-js-unofficial/docs/index.js';

export type Uws = typeof UwsTypes;
export type { TemplatedApp, HttpRequest, HttpResponse, us_listen_socket, WebSocket } from '@trufflesuite/uws-js-unofficial/docs/index.js';

const require = createRequire(import.meta.url);

export interface LoadedUws {
  uws: Uws;
  /** Which package and file the native addon came from (printed at start-up). */
  source: string;
}

export function loadUws(): LoadedUws {
  const reasons: string[] = [];
  try {
    return { uws: require('uWebSockets.js') as Uws, source: 'uWebSockets.js' };
  } catch (err) {
    reasons.push(`uWebSockets.js: ${(err as Error).message.split('\n')[0]}`);
  }
  const binary = `@trufflesuite/uws-js-unofficial/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  try {
    const uws = require(binary) as Uws;
    if (typeof uws.App !== 'function') throw new Error('the addon does not export App');
    return { uws, source: binary };
  } catch (err) {
    reasons.push(`${binary}: ${(err as Error).message.split('\n')[0]}`);
  }
  throw new Error(`uWebSockets.js could not be loaded natively, and the JS shim is not an option:\n  ${reasons.join('\n  ')}`);
}
