// Content negotiation and body codecs: JSON unless the request says msgpack;
// msgpack responses when Accept asks for them.
import { Packr, Unpackr } from 'msgpackr';

/** Lenient: a text/plain or form Content-Type (what `curl -d` sends) whose body is read as JSON. */
export const enum BodyKind { Json = 0, Msgpack = 1, Lenient = 2, Unsupported = -1 }

/** What a request body may be sent as; the 415 message lists them. */
export const ACCEPTED_BODY_TYPES = 'application/json (or no Content-Type), application/msgpack, application/x-msgpack, or text/plain / application/x-www-form-urlencoded holding JSON';

// Plain maps and no records: what any msgpack client sends and expects.
const unpackr = new Unpackr({ mapsAsObjects: true, useRecords: false });
export const packr = new Packr({ useRecords: false });

/** Missing Content-Type is read as JSON, as most HTTP clients mean it. */
export function bodyKindOf(contentType: string): BodyKind {
  if (contentType === '' || contentType.startsWith('application/json')) return BodyKind.Json;
  const semi = contentType.indexOf(';');
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (type === 'application/json') return BodyKind.Json;
  if (type === 'application/msgpack' || type === 'application/x-msgpack') return BodyKind.Msgpack;
  if (type === 'text/plain' || type === 'application/x-www-form-urlencoded') return BodyKind.Lenient;
  return BodyKind.Unsupported;
}

export function wantsMsgpack(accept: string): boolean {
  return accept.length !== 0 && accept.includes('msgpack');
}

/** Parses a complete body; throws SyntaxError with a user-facing message. */
export function decodeBody(kind: BodyKind, body: Buffer): unknown {
  if (kind === BodyKind.Msgpack) {
    try {
      return unpackr.unpack(body);
    } catch {
      throw new SyntaxError('the body is not valid msgpack');
    }
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new SyntaxError(kind === BodyKind.Lenient
      ? 'the body is not valid JSON (a text/plain or form Content-Type is read as JSON; form fields such as a=1&b=2 are not)'
      : 'the body is not valid JSON');
  }
}
