// A small undici-based client for tests: JSON or msgpack, raw bodies allowed.
import { Pool } from 'undici';
import { pack, unpack } from 'msgpackr';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  raw: Buffer;
}

export class TestClient {
  readonly pool: Pool;
  constructor(url: string, connections = 8) {
    this.pool = new Pool(url, { connections, pipelining: 1 });
  }

  async request(method: string, path: string, opts: { body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Reply> {
    const res = await this.pool.request({ method: method as 'GET', path, body: opts.body, headers: opts.headers });
    const raw = Buffer.from(await res.body.arrayBuffer());
    const type = String(res.headers['content-type'] ?? '');
    let body: any = raw.toString('utf8');
    if (type.includes('msgpack')) body = unpack(raw);
    else if (type.includes('json')) body = JSON.parse(body);
    return { status: res.statusCode, headers: res.headers, body, raw };
  }

  postJson(path: string, value: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    return this.request('POST', path, { body: JSON.stringify(value), headers: { 'content-type': 'application/json', ...headers } });
  }

  postMsgpack(path: string, value: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    return this.request('POST', path, { body: pack(value), headers: { 'content-type': 'application/msgpack', ...headers } });
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Reply> {
    return this.request('GET', path, { headers });
  }

  /** GET /monitoring/stats once the coordinator has published a snapshot newer than this call. */
  async freshStats(): Promise<any> {
    const t = Date.now();
    for (;;) {
      const r = await this.get('/monitoring/stats');
      if (Date.parse(r.body.generated_at) > t + 50) return r.body;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
