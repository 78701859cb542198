// Loads the uWebSockets.js native binary directly. The package's main entry
// silently falls back to a slow pure-JS shim when the binary is missing, which
// would make every bench figure a lie; loading the .node file fails loudly.
import { createRequire } from 'node:module';
import type * as UWS from '@trufflesuite/uws-js-unofficial';

export type { UWS };

export function loadUws(): typeof UWS {
  const file = `@trufflesuite/uws-js-unofficial/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  return createRequire(import.meta.url)(file) as typeof UWS;
}
