// Open-loop HTTP/1.1 load generator (wrk2-style), single-threaded, for the
// bench's sub-millisecond tails: the JavaScript generator wakes on a 1 ms
// timer and its own GC and CPU land in the p99 it measures; this one paces to
// the microsecond and wakes at most once per request.
//
// Request g is scheduled at t0 + g / rate (CLOCK_MONOTONIC, ns) whatever
// happened before. Keep-alive connections, one request in flight each, no
// pipelining. A request that falls due while every connection is busy waits
// in a FIFO backlog and is still charged from its scheduled time (no
// coordinated omission). Pacing: absolute-deadline sleeps (clock_nanosleep
// TIMER_ABSTIME, or epoll_pwait2's nanosecond timeout when answers must wake
// us) with 1 ns timer slack, never spinning. An answer is timed by the
// kernel's receive timestamp (SO_TIMESTAMPNS) of its last segment, so a late
// wake-up of this thread does not lengthen it; that also lets answers wait
// for the next send's wake-up while enough connections are free. Each request
// records its latency from schedule, the same less this process's own
// lateness, service time (send → answer), send lag (schedule → send) and own
// lateness (send − max(schedule, connection free)). Latencies go
// into log-linear (HDR-style) histograms, never a per-request array. At the
// end: one JSON line on stdout (times in ns).
//
// cc -O2 -Wall -Wextra -o openloop openloop.c
// openloop --port P --rate R --duration-ms D [--warmup-ms W] [--drain-ms 2000]
//   [--connections 256] [--host 127.0.0.1] [--pool FILE|-] [--start-mono-ns N |
//   --start-epoch-ms X] [--slice PERIOD_MS,ON_FROM_MS,ON_MS] [--thread I
//   --threads N] [--sample] [--quantum-us Q (0)] [--no-lazy] [--no-rx-timestamps]
// --quantum-us: wake no sooner than Q µs after the last wake-up and send all
// that fell due (fewer wake-ups, each up to Q µs later). --no-lazy: wake for
// every answer. --no-rx-timestamps: time answers at wake-up (implies --no-lazy).
// The pool ("<length>\n<bytes>" records, as bench/lib/wrk_pool.lua reads) is
// cycled through; "-" (the default) reads it from stdin.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000LL
#define MS 1000000LL

// ---- log-linear histogram: exact below 2048 ns, then 1024 sub-buckets per
// power of two (relative error < 0.1 %, 3 significant digits), 1 ns … 137 s.
#define H_SUB 1024
#define H_MAX_NS (120 * NS)
#define H_SIZE ((37 - 10) * H_SUB + H_SUB)
typedef struct { uint64_t n[H_SIZE]; uint64_t total; int64_t max; } hist_t;

static int h_index(int64_t v) {
  if (v < 2 * H_SUB) return (int)v;
  int shift = 63 - __builtin_clzll((uint64_t)v) - 10;
  return shift * H_SUB + (int)(v >> shift);
}

/** The middle of bucket i (its only value below 2048 ns). */
static int64_t h_value(int i) {
  if (i < 2 * H_SUB) return i;
  int shift = i / H_SUB - 1;
  int64_t lo = (int64_t)(i - shift * H_SUB) << shift;
  return lo + ((1LL << shift) >> 1);
}

static void h_record(hist_t *h, int64_t v) {
  if (v < 1) v = 1;
  if (v > H_MAX_NS) v = H_MAX_NS;
  h->n[h_index(v)]++;
  h->total++;
  if (v > h->max) h->max = v;
}

static void h_print(const char *name, const hist_t *h) {
  printf("\"%s\":[", name);
  const char *sep = "";
  for (int i = 0; i < H_SIZE; i++) {
    if (h->n[i] == 0) continue;
    printf("%s[%lld,%llu]", sep, (long long)h_value(i), (unsigned long long)h->n[i]);
    sep = ",";
  }
  printf("]");
}

// ---- options and state
static const char *host = "127.0.0.1";
static int port = 0, nconn = 256, thread_i = 0, threads = 1, keep_sample = 0;
static double rate = 0;
static int64_t warmup_ns = 0, duration_ns = 0, drain_ns = 2 * NS;
static int64_t start_mono = -1;
static int sliced = 0;
static double on_ms;
static int64_t period_ns, on_from_ns, per_window = 1;
static double interval_ns;
static int64_t t0 = -1, measure_from, end_at, drain_until;

static char *pool;
static size_t *pool_off, *pool_len;
static int pool_n, next_pool;

enum { DEAD, CONNECTING, IDLE, BUSY };
typedef struct {
  int fd, state, measured;
  int64_t sched, sent, free_at, retry_at, own_lag;
  size_t woff, wlen, rlen, rcap, need;
  const char *wbuf;
  char *rbuf;
} conn_t;
static conn_t *conns;
static conn_t **idle;
static int idle_n, epfd, connected_once, ndead;
static int use_rx_ts = 1, lazy = 1;
static int64_t quantum_ns = 0;
static uint64_t rx_ts_missing;
static int64_t real_minus_mono; // CLOCK_REALTIME − CLOCK_MONOTONIC, ns, refreshed every wake-up

static hist_t h_latency, h_less_own, h_service, h_send_lag, h_self_lag;
static uint64_t offered, completed, ok, inflight_measured, wakeups;
static uint64_t statuses[600];
static int64_t k_sent, k_due, backlog_max;
static char *sample;
static size_t sample_len;

#define MAX_KINDS 48
static struct { char name[40]; uint64_t n; } errs[MAX_KINDS];
static int nerrs;

static void err_count(const char *kind, const char *detail, uint64_t n) {
  char name[40];
  snprintf(name, sizeof name, "%s%s%s", kind, detail ? "_" : "", detail ? detail : "");
  for (int i = 0; i < nerrs; i++) if (strcmp(errs[i].name, name) == 0) { errs[i].n += n; return; }
  if (nerrs == MAX_KINDS) return;
  strcpy(errs[nerrs].name, name);
  errs[nerrs++].n = n;
}

static const char *errname(int e) {
  const char *s = strerrorname_np(e);
  return s ? s : "EUNKNOWN";
}

static int64_t mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * NS + ts.tv_nsec;
}

static int64_t real(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * NS + ts.tv_nsec;
}

static void die(const char *msg) {
  fprintf(stderr, "openloop: %s\n", msg);
  exit(2);
}

// ---- schedule (same slots as bench/lib/load_core.ts): this process sends
// global slots thread_i, thread_i + threads, …; with a duty cycle, per_window
// slots at the global spacing from on_from of every period.
static int64_t sched_of(int64_t kk) {
  int64_t g = thread_i + kk * threads;
  if (!sliced) return t0 + (int64_t)((double)g * interval_ns);
  int64_t cycle = g / per_window;
  return t0 + cycle * period_ns + on_from_ns + (int64_t)((double)(g - cycle * per_window) * interval_ns);
}

static void set_events(conn_t *c, uint32_t ev) {
  struct epoll_event e = { .events = ev, .data.ptr = c };
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
}

static void fail(conn_t *c, const char *kind, const char *detail, int64_t now) {
  if (c->fd >= 0) { close(c->fd); c->fd = -1; }
  if (c->state == IDLE) {
    for (int i = 0; i < idle_n; i++) if (idle[i] == c) { idle[i] = idle[--idle_n]; break; }
  }
  if (c->state == BUSY && c->measured) {
    // An open-loop slot that dies with its connection is not re-sent: it is an error.
    completed++;
    inflight_measured--;
    err_count(kind, detail, 1);
  }
  if (c->state != DEAD) ndead++;
  c->state = DEAD;
  c->retry_at = now + 50 * MS;
}

static void start_connect(conn_t *c, int64_t now) {
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) die("--host must be an IPv4 address");
  ndead--;
  c->state = CONNECTING;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) { err_count("connect", errname(errno), 1); fail(c, "connect", NULL, now); return; }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // The kernel stamps each received segment: an answer is complete when its
  // last byte reached the socket, however late this thread wakes to read it.
  if (use_rx_ts) setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  c->rlen = 0;
  c->need = 0;
  struct epoll_event e = { .events = EPOLLOUT | EPOLLIN, .data.ptr = c };
  epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e);
  if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
    err_count("connect", errname(errno), 1);
    fail(c, "connect", NULL, now);
  }
}

static void flush_write(conn_t *c, int64_t now) {
  while (c->woff < c->wlen) {
    ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
    if (n > 0) { c->woff += (size_t)n; continue; }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { set_events(c, EPOLLIN | EPOLLOUT); return; }
    fail(c, "write", errname(errno), now);
    return;
  }
}

static void send_req(conn_t *c, int64_t sched) {
  int64_t now = mono();
  c->state = BUSY;
  c->sched = sched;
  c->sent = now;
  c->measured = sched >= measure_from && sched < end_at;
  if (c->measured) {
    offered++;
    inflight_measured++;
    h_record(&h_send_lag, now - sched);
    // The generator's own lateness: from when the request could have gone
    // (due, and a connection free) to when it went; waiting for the server is not counted.
    c->own_lag = now - (sched > c->free_at ? sched : c->free_at);
    h_record(&h_self_lag, c->own_lag);
  }
  c->wbuf = pool + pool_off[next_pool];
  c->wlen = pool_len[next_pool];
  c->woff = 0;
  next_pool += threads;
  if (next_pool >= pool_n) next_pool %= pool_n;
  flush_write(c, now);
}

/** Sends every slot that is due, oldest first, while connections are free. */
static void pump(int64_t now) {
  for (int64_t s = sched_of(k_due); s <= now && s < end_at; s = sched_of(k_due)) k_due++;
  while (idle_n > 0 && k_sent < k_due) {
    send_req(idle[--idle_n], sched_of(k_sent));
    k_sent++;
  }
  if (k_due - k_sent > backlog_max) backlog_max = k_due - k_sent;
}

static void on_answer(conn_t *c, int status, const char *body, size_t blen, int close_after, int64_t now) {
  if (c->measured) {
    completed++;
    inflight_measured--;
    statuses[status >= 100 && status < 600 ? status : 0]++;
    if (status >= 200 && status < 300) ok++;
    h_record(&h_latency, now - c->sched);
    // From schedule less this process's own lateness: the server's share
    // (waits for a free connection included), as the JS generator's latency.
    h_record(&h_less_own, now - c->sched - c->own_lag);
    h_record(&h_service, now - c->sent);
  }
  if (keep_sample && sample == NULL) {
    sample_len = blen < 2000 ? blen : 2000;
    sample = malloc(sample_len + 1);
    memcpy(sample, body, sample_len);
  }
  if (close_after) { c->state = IDLE; fail(c, "closed_by_server", NULL, now); return; }
  c->state = IDLE;
  c->free_at = now;
  idle[idle_n++] = c;
}

/** The value of header `name` (case-insensitive) in the block [p, end), or NULL. */
static const char *header(const char *p, const char *end, const char *name) {
  size_t nl = strlen(name);
  for (const char *line = p; line < end;) {
    const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
    if (eol == NULL) eol = end;
    if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
      const char *v = line + nl + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      return v;
    }
    line = eol + 2;
  }
  return NULL;
}

/** Does a header value contain `token` (case-insensitive)? */
static int value_has(const char *v, const char *end, const char *token) {
  if (v == NULL) return 0;
  const char *eol = memmem(v, (size_t)(end - v), "\r\n", 2);
  size_t len = (size_t)((eol ? eol : end) - v), tl = strlen(token);
  for (size_t i = 0; i + tl <= len; i++) if (strncasecmp(v + i, token, tl) == 0) return 1;
  return 0;
}

/** Frames the answer in c->rbuf; returns 0 when more bytes are needed, 1 when handled. */
static int parse(conn_t *c, int64_t now) {
  char *b = c->rbuf;
  if (c->state != BUSY) { fail(c, "parse", "unexpected_bytes", now); return 1; }
  char *he = memmem(b, c->rlen, "\r\n\r\n", 4);
  if (he == NULL) {
    if (c->rlen > 65536) { fail(c, "parse", "header_too_long", now); return 1; }
    return 0;
  }
  size_t hlen = (size_t)(he - b) + 4;
  if (c->rlen < 12 || memcmp(b, "HTTP/1.", 7) != 0 || b[8] != ' ') { fail(c, "parse", "bad_status_line", now); return 1; }
  int status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
  const char *cl = header(b, he, "content-length");
  if (value_has(header(b, he, "transfer-encoding"), he, "chunked")) { fail(c, "parse", "chunked", now); return 1; }
  size_t blen = 0;
  if (cl != NULL) {
    char *stop;
    blen = strtoull(cl, &stop, 10);
    if (stop == cl) { fail(c, "parse", "bad_content_length", now); return 1; }
  } else if (!(status < 200 || status == 204 || status == 304)) {
    fail(c, "parse", "no_content_length", now);
    return 1;
  }
  c->need = hlen + blen;
  if (c->rlen < c->need) return 0;
  if (c->rlen > c->need) { fail(c, "parse", "unexpected_bytes", now); return 1; }
  int close_after = value_has(header(b, he, "connection"), he, "close");
  c->rlen = 0;
  c->need = 0;
  on_answer(c, status, b + hlen, blen, close_after, now);
  return 1;
}

static void on_readable(conn_t *c, int64_t now) {
  for (;;) {
    size_t want = (c->need > c->rlen ? c->need : c->rlen) + 4096;
    if (want > c->rcap) {
      if (want > (64u << 20)) { fail(c, "parse", "too_large", now); return; }
      c->rcap = want * 2;
      c->rbuf = realloc(c->rbuf, c->rcap);
      if (c->rbuf == NULL) die("out of memory");
    }
    size_t room = c->rcap - c->rlen;
    struct iovec iov = { .iov_base = c->rbuf + c->rlen, .iov_len = room };
    union { char buf[CMSG_SPACE(sizeof(struct timespec))]; struct cmsghdr align; } ctl;
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = use_rx_ts ? sizeof ctl.buf : 0 };
    ssize_t n = recvmsg(c->fd, &m, 0);
    if (n > 0) {
      c->rlen += (size_t)n;
      int64_t at = now;
      if (use_rx_ts) {
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec ts;
          memcpy(&ts, CMSG_DATA(cm), sizeof ts);
          at = ts.tv_sec * NS + ts.tv_nsec - real_minus_mono;
          if (at > now) at = now;
        } else {
          rx_ts_missing++;
          lazy = 0; // without kernel times, answers must be read as they come
        }
      }
      if (at < c->sent) at = c->sent;
      if ((c->need == 0 || c->rlen >= c->need) && parse(c, at)) return;
      if ((size_t)n < room) return; // drained; level-triggered epoll calls again
      continue;
    }
    if (n == 0) { fail(c, "closed", NULL, now); return; }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    fail(c, "read", errname(errno), now);
    return;
  }
}

static void on_event(conn_t *c, uint32_t ev, int64_t now) {
  if (c->state == CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
      err_count("connect", errname(err ? err : ECONNREFUSED), 1);
      fail(c, "connect", NULL, now);
      return;
    }
    connected_once++;
    set_events(c, EPOLLIN);
    c->state = IDLE;
    c->free_at = now;
    idle[idle_n++] = c;
    return;
  }
  if ((ev & EPOLLOUT) && c->state == BUSY && c->woff < c->wlen) {
    flush_write(c, now);
    if (c->fd >= 0 && c->woff == c->wlen) set_events(c, EPOLLIN);
  }
  if (c->fd >= 0 && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(c, now);
}

// ---- input
static void read_pool(const char *path) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (f == NULL) die("cannot open the request pool");
  size_t cap = 1 << 20, len = 0, n;
  pool = malloc(cap);
  while ((n = fread(pool + len, 1, cap - len, f)) > 0) {
    len += n;
    if (len == cap) { cap *= 2; pool = realloc(pool, cap); if (pool == NULL) die("out of memory"); }
  }
  if (f != stdin) fclose(f);
  int ocap = 1024;
  pool_off = malloc(ocap * sizeof *pool_off);
  pool_len = malloc(ocap * sizeof *pool_len);
  for (size_t p = 0; p < len;) {
    char *stop;
    unsigned long long rl = strtoull(pool + p, &stop, 10);
    if (stop == pool + p || *stop != '\n' || (size_t)(stop + 1 - pool) + rl > len) die("malformed request pool (want <length>\\n<bytes> records)");
    if (pool_n == ocap) {
      ocap *= 2;
      pool_off = realloc(pool_off, ocap * sizeof *pool_off);
      pool_len = realloc(pool_len, ocap * sizeof *pool_len);
    }
    pool_off[pool_n] = (size_t)(stop + 1 - pool);
    pool_len[pool_n++] = (size_t)rl;
    p = pool_off[pool_n - 1] + rl;
  }
  if (pool_n == 0 || pool_len[0] == 0) die("empty request pool");
}

static void parse_args(int argc, char **argv, const char **pool_path) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--sample") == 0) { keep_sample = 1; continue; }
    if (strcmp(a, "--no-rx-timestamps") == 0) { use_rx_ts = 0; lazy = 0; continue; }
    if (strcmp(a, "--no-lazy") == 0) { lazy = 0; continue; }
    if (v == NULL) die("every option but --sample takes a value");
    i++;
    if (strcmp(a, "--host") == 0) host = v;
    else if (strcmp(a, "--port") == 0) port = atoi(v);
    else if (strcmp(a, "--rate") == 0) rate = atof(v);
    else if (strcmp(a, "--connections") == 0) nconn = atoi(v);
    else if (strcmp(a, "--warmup-ms") == 0) warmup_ns = (int64_t)(atof(v) * MS);
    else if (strcmp(a, "--duration-ms") == 0) duration_ns = (int64_t)(atof(v) * MS);
    else if (strcmp(a, "--drain-ms") == 0) drain_ns = (int64_t)(atof(v) * MS);
    else if (strcmp(a, "--pool") == 0) *pool_path = v;
    else if (strcmp(a, "--start-mono-ns") == 0) start_mono = atoll(v);
    else if (strcmp(a, "--start-epoch-ms") == 0) {
      // CLOCK_REALTIME epoch ms → CLOCK_MONOTONIC ns, read back to back.
      struct timespec r;
      clock_gettime(CLOCK_REALTIME, &r);
      start_mono = mono() + (int64_t)((atof(v) - ((double)r.tv_sec * 1e3 + r.tv_nsec / 1e6)) * MS);
    } else if (strcmp(a, "--slice") == 0) {
      double p, f, o;
      if (sscanf(v, "%lf,%lf,%lf", &p, &f, &o) != 3 || p <= 0 || o <= 0) die("--slice PERIOD_MS,ON_FROM_MS,ON_MS");
      sliced = 1;
      period_ns = (int64_t)(p * MS);
      on_from_ns = (int64_t)(f * MS);
      on_ms = o;
    } else if (strcmp(a, "--quantum-us") == 0) quantum_ns = (int64_t)(atof(v) * 1000);
    else if (strcmp(a, "--thread") == 0) thread_i = atoi(v);
    else if (strcmp(a, "--threads") == 0) threads = atoi(v);
    else { fprintf(stderr, "openloop: unknown option %s\n", a); exit(2); }
  }
  if (port <= 0 || rate <= 0 || duration_ns <= 0 || nconn < 1 || threads < 1 || thread_i < 0 || thread_i >= threads) {
    die("need --port, --rate > 0, --duration-ms > 0, --connections >= 1, 0 <= --thread < --threads");
  }
  interval_ns = 1e9 / rate;
  if (sliced) {
    int64_t w = (int64_t)(on_ms * MS / interval_ns + 0.5); // Math.max(1, Math.round(onMs / interval))
    per_window = w < 1 ? 1 : w;
  }
}

static void set_t0(int64_t t) {
  t0 = t;
  measure_from = t0 + warmup_ns;
  end_at = measure_from + duration_ns;
  drain_until = end_at + drain_ns;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void print_json_string(const char *s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\') printf("\\%c", ch);
    else if (ch < 0x20 || ch >= 0x7f) printf("\\u%04x", ch); // bytes as latin1, like Buffer.toString('latin1')
    else putchar(ch);
  }
  putchar('"');
}

int main(int argc, char **argv) {
  const char *pool_path = "-";
  parse_args(argc, argv, &pool_path);
  read_pool(pool_path);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); // hrtimer wake-ups 1 ns late at most, not the default 50 µs

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconn + 64) {
    rl.rlim_cur = rl.rlim_max < (rlim_t)nconn + 64 ? rl.rlim_max : (rlim_t)nconn + 64;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  conns = calloc((size_t)nconn, sizeof *conns);
  idle = calloc((size_t)nconn, sizeof *idle);
  int64_t started = mono();
  ndead = nconn;
  for (int i = 0; i < nconn; i++) { conns[i].fd = -1; start_connect(&conns[i], started); }
  // Without a shared start time, start once every connection is up (1 s at most).
  if (start_mono >= 0) set_t0(start_mono);

  struct epoll_event evs[512];
  double cpu0 = 0, cpu1 = 0;
  int64_t win0 = -1, win1 = -1, waited = 0;
  int pwait2 = 1;
  int64_t last_wake = 0;
  for (;;) {
    int64_t now = mono();
    if (t0 < 0 && (connected_once >= nconn || now - started > NS)) set_t0(now + 10 * MS);
    if (t0 >= 0) {
      if (win0 < 0 && now >= measure_from) { win0 = now; cpu0 = cpu_s(); }
      if (win1 < 0 && now >= end_at) { win1 = now; cpu1 = cpu_s(); }
      pump(now);
      if (now >= end_at && inflight_measured == 0 && sched_of(k_sent) >= end_at) break;
      if (now >= drain_until) break;
    }
    for (int i = 0; ndead > 0 && i < nconn; i++) {
      if (conns[i].state == DEAD && conns[i].retry_at <= now) start_connect(&conns[i], now);
    }
    // Next wake-up: the next slot (when a connection can take it), the window's
    // edges, the drain deadline, a reconnect; events wake us earlier.
    int64_t wake = t0 < 0 ? started + NS : drain_until;
    if (t0 >= 0) {
      int64_t s = sched_of(k_due);
      // No sooner than a quantum after the last wake-up: fewer, fuller wake-ups.
      if (s < last_wake + quantum_ns) s = last_wake + quantum_ns;
      if (idle_n > 0 && s < end_at && s < wake) wake = s;
      if (win0 < 0 && measure_from < wake) wake = measure_from;
      if (win1 < 0 && end_at < wake) wake = end_at;
    }
    for (int i = 0; ndead > 0 && i < nconn; i++) {
      if (conns[i].state == DEAD && conns[i].retry_at < wake) wake = conns[i].retry_at;
    }
    int64_t dt = wake > now ? wake - now : 0;
    int64_t before = mono();
    int n;
    // Plenty of free connections and nothing owed: answers need not wake us
    // (their times come from the kernel), so sleep to the next slot and
    // collect them then, one wake-up instead of two per request.
    if (lazy && idle_n >= 4 && k_sent == k_due && t0 >= 0 && now < end_at && dt > 0) {
      struct timespec ts = { .tv_sec = wake / NS, .tv_nsec = wake % NS };
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
      n = epoll_wait(epfd, evs, 512, 0);
    } else if (pwait2) {
      struct timespec ts = { .tv_sec = dt / NS, .tv_nsec = dt % NS };
      n = epoll_pwait2(epfd, evs, 512, &ts, NULL);
      if (n < 0 && errno == ENOSYS) { pwait2 = 0; continue; }
    } else {
      n = epoll_wait(epfd, evs, 512, (int)((dt + MS - 1) / MS)); // kernels before 5.11: 1 ms pacing
    }
    real_minus_mono = real() - (now = mono());
    last_wake = now;
    wakeups++;
    if (win0 >= 0 && win1 < 0) waited += now - before;
    for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events, now);
  }

  int64_t now = mono();
  if (win0 < 0) { win0 = now; cpu0 = cpu_s(); }
  if (win1 < 0) { win1 = now; cpu1 = cpu_s(); }
  for (int i = 0; i < nconn; i++) {
    if (conns[i].state == BUSY && conns[i].measured) { completed++; err_count("timeout", NULL, 1); }
    if (conns[i].fd >= 0) close(conns[i].fd);
  }
  // Slots of the window never sent: the connections (or this process) could not keep up.
  uint64_t unsent = 0;
  for (int64_t s = sched_of(k_sent); s < end_at; s = sched_of(++k_sent)) if (s >= measure_from) unsent++;
  if (unsent > 0) { err_count("unsent", NULL, unsent); offered += unsent; }

  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double win_s = (double)(win1 - win0) / NS;
  printf("{\"tool\":\"ctr-openloop-c\",\"unit\":\"ns\",\"pacing\":\"%s\",\"t0MonoNs\":%lld,\"offered\":%llu,\"completed\":%llu,\"ok\":%llu,\"statuses\":{",
         pwait2 ? "epoll_pwait2" : "epoll_wait_ms", (long long)t0, (unsigned long long)offered, (unsigned long long)completed, (unsigned long long)ok);
  const char *sep = "";
  for (int s = 0; s < 600; s++) {
    if (statuses[s] == 0) continue;
    if (s == 0) printf("%s\"other\":%llu", sep, (unsigned long long)statuses[s]);
    else printf("%s\"%d\":%llu", sep, s, (unsigned long long)statuses[s]);
    sep = ",";
  }
  printf("},\"errors\":{");
  for (int i = 0; i < nerrs; i++) printf("%s\"%s\":%llu", i ? "," : "", errs[i].name, (unsigned long long)errs[i].n);
  printf("},\"backlogMax\":%lld,\"wakeups\":%llu,\"rxTimestampsMissing\":%llu,", (long long)backlog_max, (unsigned long long)wakeups, (unsigned long long)rx_ts_missing);
  printf("\"cpu\":{\"userS\":%.6f,\"sysS\":%.6f,\"windowS\":%.6f},", ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
         ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, cpu1 - cpu0);
  printf("\"wallS\":%.6f,\"windowWallS\":%.6f,\"busy\":%.4f,\"histograms\":{", (double)(now - started) / NS, win_s,
         win_s > 0 ? 1 - (double)waited / (double)(win1 - win0) : 0);
  h_print("latency", &h_latency); putchar(',');
  h_print("latencyLessOwnLag", &h_less_own); putchar(',');
  h_print("service", &h_service); putchar(',');
  h_print("sendLag", &h_send_lag); putchar(',');
  h_print("selfLag", &h_self_lag);
  printf("},\"max\":{\"latency\":%lld,\"service\":%lld,\"sendLag\":%lld,\"selfLag\":%lld}", (long long)h_latency.max,
         (long long)h_service.max, (long long)h_send_lag.max, (long long)h_self_lag.max);
  if (sample != NULL) { printf(",\"sample\":"); print_json_string(sample, sample_len); }
  printf("}\n");
  return 0;
}
