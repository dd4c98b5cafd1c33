/*
 * The lean client of bench/run.sh (issue 34): makes each call as an agent calls a tool, with as little of its own
 * work as C and OpenSSL allow, so that the figure is the proxy's and not the client's. Per call: a new TCP connection,
 * CONNECT host:port through the proxy (or straight to the upstream with --direct), its 2xx head, a full TLS handshake
 * (no tickets, no resumption), one GET with Connection: close, a 200 required, read to the server's close.
 *
 *   agent (--proxy ADDR:PORT | --direct ADDR) --port N --host NAME [--concurrency C] [--seconds S] [--warmup W] [--pid PID]
 *
 * Prints one JSON line: conn/s, p50/p99 per call (ms), the issuer of the server certificate (a bumped call shows the
 * proxy's CA, a spliced or direct one the upstream's), and with --pid the proxy's CPU time and context switches per
 * call (the process and its descendants, every thread; all, and the voluntary ones alone: a thread going to sleep to
 * wait, which the code decides, while involuntary ones are preemption, which a loaded machine decides).
 * Exit 1 when more than 1 % of the calls failed.
 * Built by bench/run.sh: cc -O2 -o agent agent.c -lssl -lcrypto -lpthread -lm
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in connect_to;  /* the proxy, or the upstream with --direct */
static int via_proxy, port, concurrency = 1, pid = -1;
static double seconds = 5, warmup = 1;
static const char *host = "splice.bench.example";
static SSL_CTX *ctx;
static atomic_int stop, measuring;
static atomic_long done, errors, ever_done;
static char issuer[256], first_error[256];
static pthread_mutex_t note_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct { double *ms; long n, cap; } samples;
static samples *per_worker;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void note_error(const char *what) {
  pthread_mutex_lock(&note_lock);
  if (!first_error[0]) snprintf(first_error, sizeof first_error, "%.200s", what);
  pthread_mutex_unlock(&note_lock);
}

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return -1;
    p += w; n -= (size_t)w;
  }
  return 0;
}

/* One call; 0 when it went as an agent's call should, else -1 with the reason noted. */
static int one_call(void) {
  char buf[4096];
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, rc = -1;
  SSL *ssl = NULL;
  if (fd < 0) { note_error("socket failed"); return -1; }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&connect_to, sizeof connect_to) < 0) { note_error("connect failed"); goto out; }
  if (via_proxy) {
    int n = snprintf(buf, sizeof buf, "CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n", host, port, host, port);
    if (send_all(fd, buf, (size_t)n) < 0) { note_error("CONNECT send failed"); goto out; }
    /* Read the answer's head byte by byte up to its blank line: nothing of the tunnel may be consumed here. */
    size_t got = 0;
    while (got < 4 || memcmp(buf + got - 4, "\r\n\r\n", 4) != 0) {
      if (got == sizeof buf - 1) { note_error("CONNECT answer head too long"); goto out; }
      ssize_t r = recv(fd, buf + got, 1, 0);
      if (r <= 0) { note_error("proxy closed during CONNECT"); goto out; }
      got += (size_t)r;
    }
    buf[got] = 0;
    if (got < 12 || buf[9] != '2') { buf[strcspn(buf, "\r")] = 0; note_error(buf); goto out; }
  }
  ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, host);
  if (SSL_connect(ssl) != 1) { note_error("TLS handshake failed"); goto out; }
  if (!issuer[0]) {
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert) {
      pthread_mutex_lock(&note_lock);
      X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof issuer);
      pthread_mutex_unlock(&note_lock);
      X509_free(cert);
    }
  }
  int n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: corral-lean-client\r\nConnection: close\r\n\r\n", host, port);
  if (SSL_write(ssl, buf, n) != n) { note_error("GET send failed"); goto out; }
  /* The whole answer, to the server's close (Connection: close): a 200 whose body is as long as it says. */
  size_t got = 0;
  for (;;) {
    if (got == sizeof buf - 1) { note_error("response longer than expected"); goto out; }
    int r = SSL_read(ssl, buf + got, (int)(sizeof buf - 1 - got));
    if (r <= 0) {
      int e = SSL_get_error(ssl, r);
      if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL) break;  /* close_notify, or a close without one */
      note_error("read failed before the server's close"); goto out;
    }
    got += (size_t)r;
  }
  buf[got] = 0;
  char *body = strstr(buf, "\r\n\r\n"), *length = strcasestr(buf, "\r\ncontent-length:");
  if (got < 12 || memcmp(buf, "HTTP/1.1 200", 12) != 0) { note_error("response was not a 200"); goto out; }
  if (!body || !length || length > body || (size_t)atol(length + 17) != got - (size_t)(body + 4 - buf)) { note_error("response body shorter or longer than its Content-Length"); goto out; }
  SSL_shutdown(ssl);
  rc = 0;
out:
  if (ssl) SSL_free(ssl);
  close(fd);
  ERR_clear_error();
  return rc;
}

static void *worker(void *arg) {
  samples *s = &per_worker[(long)arg];
  while (!atomic_load(&stop)) {
    double t = now_ms();
    int ok = one_call() == 0;
    if (ok) atomic_fetch_add(&ever_done, 1);
    if (!atomic_load(&measuring)) continue;
    if (!ok) { atomic_fetch_add(&errors, 1); continue; }
    atomic_fetch_add(&done, 1);
    if (s->n == s->cap) { s->cap = s->cap ? s->cap * 2 : 4096; s->ms = realloc(s->ms, (size_t)s->cap * sizeof *s->ms); }
    s->ms[s->n++] = now_ms() - t;
  }
  return NULL;
}

/* The proxy's process tree: CPU time (ticks) and context switches of every thread, from /proc. */
static void tree_usage(int root, long *ticks, long *switches, long *voluntary) {
  int pids[4096], parents[4096], n = 0;
  DIR *d = opendir("/proc");
  struct dirent *e;
  while (d && (e = readdir(d)) && n < 4096) {
    int p = atoi(e->d_name);
    if (p <= 0) continue;
    char path[64], stat[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", p);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t len = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[len] = 0;
    char *close_paren = strrchr(stat, ')');
    int parent;
    if (close_paren && sscanf(close_paren + 2, "%*c %d", &parent) == 1) { pids[n] = p; parents[n++] = parent; }
  }
  if (d) closedir(d);
  int tree[4096], count = 1;
  tree[0] = root;
  for (int i = 0; i < count; i++)
    for (int j = 0; j < n && count < 4096; j++)
      if (parents[j] == tree[i]) tree[count++] = pids[j];
  *ticks = *switches = *voluntary = 0;
  for (int i = 0; i < count; i++) {
    char path[64], line[320];
    snprintf(path, sizeof path, "/proc/%d/stat", tree[i]);
    FILE *f = fopen(path, "r");
    if (f) {
      char stat[1024];
      size_t len = fread(stat, 1, sizeof stat - 1, f);
      fclose(f);
      stat[len] = 0;
      char *c = strrchr(stat, ')');
      long ut, st;
      if (c && sscanf(c + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) == 2) *ticks += ut + st;
    }
    snprintf(path, sizeof path, "/proc/%d/task", tree[i]);
    DIR *td = opendir(path);
    struct dirent *t;
    while (td && (t = readdir(td))) {
      if (t->d_name[0] == '.') continue;
      snprintf(line, sizeof line, "/proc/%d/task/%s/status", tree[i], t->d_name);
      FILE *s = fopen(line, "r");
      if (!s) continue;
      while (fgets(line, sizeof line, s)) {
        long v;
        if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1) { *switches += v; *voluntary += v; }
        else if (sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1) *switches += v;
      }
      fclose(s);
    }
    if (td) closedir(td);
  }
}

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

/* The nearest-rank percentile of sorted values, as the .NET client's Stats.Percentile. */
static double percentile(const double *sorted, long n, double p) {
  if (n == 0) return 0;
  long i = (long)ceil(p * n) - 1;
  return sorted[i < 0 ? 0 : (i >= n ? n - 1 : i)];
}

static void sleep_s(double s) { struct timespec t = { (time_t)s, (long)((s - (time_t)s) * 1e9) }; nanosleep(&t, NULL); }

static int parse_addr(const char *text, int with_port) {
  char a[64];
  snprintf(a, sizeof a, "%s", text);
  char *colon = with_port ? strrchr(a, ':') : NULL;
  if (with_port && !colon) return -1;
  if (colon) { *colon = 0; connect_to.sin_port = htons((uint16_t)atoi(colon + 1)); }
  connect_to.sin_family = AF_INET;
  return inet_pton(AF_INET, a, &connect_to.sin_addr) == 1 ? 0 : -1;
}

static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) { if (*s == '"' || *s == '\\') putchar('\\'); putchar((unsigned char)*s < 32 ? ' ' : *s); }
  putchar('"');
}

int main(int argc, char **argv) {
  const char *direct = NULL, *proxy = NULL;
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) { fprintf(stderr, "agent: %s needs a value\n", k); return 2; }
    if (!strcmp(k, "--proxy")) proxy = v;
    else if (!strcmp(k, "--direct")) direct = v;
    else if (!strcmp(k, "--port")) port = atoi(v);
    else if (!strcmp(k, "--host")) host = v;
    else if (!strcmp(k, "--concurrency")) concurrency = atoi(v);
    else if (!strcmp(k, "--seconds")) seconds = atof(v);
    else if (!strcmp(k, "--warmup")) warmup = atof(v);
    else if (!strcmp(k, "--pid")) pid = atoi(v);
    else { fprintf(stderr, "agent: unknown option %s\n", k); return 2; }
    i++;
  }
  if (!proxy == !direct || port <= 0 || concurrency <= 0 || seconds <= 0) {
    fprintf(stderr, "usage: agent (--proxy ADDR:PORT | --direct ADDR) --port N --host NAME [--concurrency C] [--seconds S] [--warmup W] [--pid PID]\n");
    return 2;
  }
  via_proxy = proxy != NULL;
  if ((proxy ? parse_addr(proxy, 1) : parse_addr(direct, 0)) < 0) { fprintf(stderr, "agent: bad address\n"); return 2; }
  if (!proxy) connect_to.sin_port = htons((uint16_t)port);

  ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* A server that closes without close_notify (the body's length is checked instead) is not a failed call. */
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);  /* every call is a full handshake */
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);            /* the issuer is reported instead: the chain differs by target */

  per_worker = calloc((size_t)concurrency, sizeof *per_worker);
  pthread_t *threads = calloc((size_t)concurrency, sizeof *threads);
  for (long w = 0; w < concurrency; w++) pthread_create(&threads[w], NULL, worker, (void *)w);

  /* The warm-up lasts at least until every worker finished one call (capped at 60 s), as the .NET client's. */
  sleep_s(warmup);
  for (double t0 = now_ms(); atomic_load(&ever_done) < concurrency && now_ms() - t0 < 60e3;) sleep_s(0.05);
  long ticks0 = 0, switches0 = 0, voluntary0 = 0, ticks1 = 0, switches1 = 0, voluntary1 = 0;
  if (pid > 0) tree_usage(pid, &ticks0, &switches0, &voluntary0);
  double start = now_ms();
  atomic_store(&measuring, 1);
  sleep_s(seconds);
  atomic_store(&measuring, 0);
  double elapsed = (now_ms() - start) / 1e3;
  if (pid > 0) tree_usage(pid, &ticks1, &switches1, &voluntary1);
  atomic_store(&stop, 1);
  for (int w = 0; w < concurrency; w++) pthread_join(threads[w], NULL);

  long count = atomic_load(&done), errs = atomic_load(&errors), total = 0;
  for (int w = 0; w < concurrency; w++) total += per_worker[w].n;
  double *all = malloc((size_t)(total ? total : 1) * sizeof *all);
  for (int w = 0, k = 0; w < concurrency; w++) { memcpy(all + k, per_worker[w].ms, (size_t)per_worker[w].n * sizeof *all); k += (int)per_worker[w].n; }
  qsort(all, (size_t)total, sizeof *all, cmp);
  printf("{\"target\":");
  json_string(proxy ? proxy : "direct");
  printf(",\"value\":%.3f,\"unit\":\"conn/s\",\"count\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"concurrency\":%d", count / elapsed, count, errs, elapsed, concurrency);
  if (pid > 0 && count > 0)
    printf(",\"proxy_cpu_ms_per_op\":%.4f,\"proxy_switches_per_op\":%.4f,\"proxy_voluntary_switches_per_op\":%.4f",
           (ticks1 - ticks0) * 10.0 / count, (double)(switches1 - switches0) / count, (double)(voluntary1 - voluntary0) / count);
  printf(",\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"issuer\":", percentile(all, total, 0.5), percentile(all, total, 0.99));
  json_string(issuer);
  printf(",\"host\":");
  json_string(host);
  printf(",\"first_error\":");
  if (first_error[0]) json_string(first_error); else printf("null");
  printf(",\"client\":\"lean (C, OpenSSL %s)\"}\n", OpenSSL_version(OPENSSL_VERSION_STRING));
  if (count == 0 || errs > count / 100) {
    fprintf(stderr, "agent: %ld failures against %ld completions; first: %s\n", errs, count, first_error);
    return 1;
  }
  return 0;
}
