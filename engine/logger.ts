// The server's log: levels, and either readable lines ("ctr-engine: …",
// what people and the test harnesses read) or JSON lines (LOG_FORMAT=json,
// for a log shipper). A dozen lines of our own rather than pino: the server
// logs a handful of events (start, alerts, health changes, shutdown), never
// on the request path, so a fast logger buys nothing and a dependency costs.
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

interface Settings { level: LogLevel; format: LogFormat; write: (line: string, level: LogLevel) => void }

const rank = (l: LogLevel): number => LOG_LEVELS.indexOf(l);

const defaultWrite = (line: string, level: LogLevel): void => {
  (level === 'warn' || level === 'error' ? process.stderr : process.stdout).write(line + '\n');
};

const settings: Settings = { level: 'info', format: 'text', write: defaultWrite };

/** Set once at start by the entry point; `write` is for tests. */
export function configureLogger(opts: Partial<Settings>): void {
  Object.assign(settings, opts);
}

/** Back to info, text, stdout/stderr. */
export function resetLogger(): void {
  configureLogger({ level: 'info', format: 'text', write: defaultWrite });
}

/** A value as text in a readable line: strings bare unless they hold spaces, the rest as JSON. */
function show(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

function emit(level: LogLevel, component: string, msg: string, fields: LogFields | undefined): void {
  if (rank(level) < rank(settings.level)) return;
  if (settings.format === 'json') {
    settings.write(JSON.stringify({ time: new Date().toISOString(), level, component, msg, ...fields }), level);
    return;
  }
  let line = `ctr-engine: ${level === 'info' ? '' : level.toUpperCase() + ' '}${component === 'server' ? '' : `[${component}] `}${msg}`;
  if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${show(v)}`;
  settings.write(line, level);
}

/** A logger for one part of the server ("server", "monitor", "alerts", …), named in each line. */
export function logger(component = 'server'): Logger {
  return {
    debug: (msg, fields) => emit('debug', component, msg, fields),
    info: (msg, fields) => emit('info', component, msg, fields),
    warn: (msg, fields) => emit('warn', component, msg, fields),
    error: (msg, fields) => emit('error', component, msg, fields),
  };
}
