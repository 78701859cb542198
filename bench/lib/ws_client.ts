// A minimal RFC 6455 WebSocket client over node:net, for tests (Node 20 has
// no global WebSocket without a flag, and the `ws` package is not installed):
// the opening handshake (checking Sec-WebSocket-Accept), masked client
// frames, text/binary messages with continuation frames, automatic pong to
// ping, the closing handshake — and pause()/resume() to stop reading the
// socket, which is how a test plays a stuck consumer.
import { createHash, randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface WsMessage { data: Buffer; binary: boolean; at: number }
export interface WsClose { code: number | null; reason: string; /** Whether a close frame came before the socket ended. */ clean: boolean }

export class WsHandshakeError extends Error {
  constructor(readonly status: number, readonly body: string) {
    super(`WebSocket handshake refused: HTTP ${status} ${body}`);
  }
}

export class WsClient {
  readonly messages: WsMessage[] = [];
  readonly closed: Promise<WsClose>;
  pings = 0;
  pongs = 0;
  bytesReceived = 0;
  #read = 0;
  #waiters: Array<() => void> = [];
  #buf: Buffer = Buffer.alloc(0);
  #fragments: Buffer[] = [];
  #fragmentBinary = false;
  #closeInfo: WsClose | null = null;
  #sentClose = false;
  #resolveClosed!: (c: WsClose) => void;

  private constructor(readonly socket: Socket, rest: Buffer) {
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('close', () => this.#finish({ code: null, reason: '', clean: false }));
    socket.on('error', () => {});
    if (rest.length > 0) this.#onData(rest);
  }

  /** Open a connection to ws://host:port/path?query (http:// is accepted too). */
  static connect(url: string, opts: { timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<WsClient> {
    const u = new URL(url);
    const key = randomBytes(16).toString('base64');
    const expectAccept = createHash('sha1').update(key + GUID).digest('base64');
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: u.hostname, port: Number(u.port) });
      socket.setNoDelay(true);
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`WebSocket handshake timed out: ${url}`)); }, opts.timeoutMs ?? 5000);
      let head = Buffer.alloc(0);
      const fail = (e: Error): void => { clearTimeout(timer); socket.destroy(); reject(e); };
      const onData = (d: Buffer): void => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        const lines = head.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(lines[0].split(' ')[1]);
        const headers = new Map(lines.slice(1).map((l) => {
          const i = l.indexOf(':');
          return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()] as [string, string];
        }));
        const rest = head.subarray(end + 4);
        if (status !== 101) {
          const len = Number(headers.get('content-length') ?? 0);
          if (rest.length < len) return;
          socket.off('data', onData);
          fail(new WsHandshakeError(status, rest.subarray(0, len).toString('utf8')));
          return;
        }
        socket.off('data', onData);
        if (headers.get('sec-websocket-accept') !== expectAccept) {
          fail(new Error(`bad Sec-WebSocket-Accept: ${headers.get('sec-websocket-accept')}`));
          return;
        }
        clearTimeout(timer);
        socket.off('error', fail);
        socket.off('close', onClose);
        resolve(new WsClient(socket, rest));
      };
      const onClose = (): void => fail(new Error('socket closed during the WebSocket handshake'));
      socket.on('data', onData);
      socket.on('error', fail);
      socket.on('close', onClose);
      socket.on('connect', () => {
        const extra = Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
      });
    });
  }

  get closeInfo(): WsClose | null { return this.#closeInfo; }

  /** The next message not yet taken by next(). */
  next(timeoutMs = 5000): Promise<WsMessage> {
    return new Promise((resolve, reject) => {
      const take = (): boolean => {
        if (this.#read < this.messages.length) { resolve(this.messages[this.#read++]); return true; }
        if (this.#closeInfo) { reject(new Error(`connection closed (${this.#closeInfo.code}) while waiting for a message`)); return true; }
        return false;
      };
      if (take()) return;
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (): void => { if (take()) { clearTimeout(timer); this.#waiters = this.#waiters.filter((w) => w !== waiter); } };
      this.#waiters.push(waiter);
    });
  }

  /** Forget the messages received so far (a long-running reader keeps its memory flat). */
  discard(): void {
    this.messages.length = 0;
    this.#read = 0;
  }

  /** Stop reading the socket (the kernel buffers fill and the server sees backpressure). */
  pause(): void { this.socket.pause(); }
  resume(): void { this.socket.resume(); }

  send(data: string | Buffer, binary = typeof data !== 'string'): void {
    this.#frame(binary ? 0x2 : 0x1, typeof data === 'string' ? Buffer.from(data) : data);
  }

  ping(payload: Buffer = Buffer.alloc(0)): void { this.#frame(0x9, payload); }

  /** Start the closing handshake; resolves when the connection is closed. */
  close(code = 1000, reason = ''): Promise<WsClose> {
    if (!this.#sentClose && !this.#closeInfo) {
      const r = Buffer.from(reason);
      const p = Buffer.alloc(2 + r.length);
      p.writeUInt16BE(code, 0);
      r.copy(p, 2);
      this.#sentClose = true;
      this.#frame(0x8, p);
      setTimeout(() => this.socket.destroy(), 2000).unref();
    }
    return this.closed;
  }

  destroy(): void { this.socket.destroy(); }

  #frame(opcode: number, payload: Buffer): void {
    if (this.socket.destroyed) return;
    const len = payload.length;
    const head = len < 126 ? Buffer.alloc(6) : len < 65536 ? Buffer.alloc(8) : Buffer.alloc(14);
    head[0] = 0x80 | opcode;
    let o = 2;
    if (len < 126) head[1] = 0x80 | len;
    else if (len < 65536) { head[1] = 0x80 | 126; head.writeUInt16BE(len, 2); o = 4; }
    else { head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(len), 2); o = 10; }
    const mask = randomBytes(4);
    mask.copy(head, o);
    const masked = Buffer.alloc(len);
    for (let i = 0; i < len; i++) masked[i] = payload[i] ^ mask[i & 3];
    this.socket.write(Buffer.concat([head, masked]));
  }

  #onData(d: Buffer): void {
    this.bytesReceived += d.length;
    this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
    for (;;) {
      const b = this.#buf;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0;
      const opcode = b[0] & 0x0f;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let o = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); o = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); o = 10; }
      const maskAt = o;
      if (masked) o += 4;
      if (b.length < o + len) return;
      let payload = b.subarray(o, o + len);
      if (masked) {
        const m = b.subarray(maskAt, maskAt + 4);
        payload = Buffer.from(payload.map((x, i) => x ^ m[i & 3]));
      }
      this.#buf = b.subarray(o + len);
      this.#onFrame(fin, opcode, Buffer.from(payload));
    }
  }

  #onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    if (opcode === 0x9) { this.pings++; this.#frame(0xa, payload); return; }
    if (opcode === 0xa) { this.pongs++; return; }
    if (opcode === 0x8) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : null;
      const reason = payload.length > 2 ? payload.subarray(2).toString('utf8') : '';
      if (!this.#sentClose) {
        this.#sentClose = true;
        this.#frame(0x8, payload.subarray(0, 2));
      }
      this.#finish({ code, reason, clean: true });
      this.socket.end();
      return;
    }
    if (opcode === 0x1 || opcode === 0x2) { this.#fragments = [payload]; this.#fragmentBinary = opcode === 0x2; }
    else if (opcode === 0x0) this.#fragments.push(payload);
    else return;
    if (!fin) return;
    const data = this.#fragments.length === 1 ? this.#fragments[0] : Buffer.concat(this.#fragments);
    this.#fragments = [];
    this.messages.push({ data, binary: this.#fragmentBinary, at: performance.now() });
    for (const w of [...this.#waiters]) w();
  }

  #finish(c: WsClose): void {
    if (this.#closeInfo) return;
    this.#closeInfo = c;
    this.#resolveClosed(c);
    for (const w of [...this.#waiters]) w();
  }
}
