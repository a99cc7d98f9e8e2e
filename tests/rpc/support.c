/*
 * support.c - a throwaway deployment and the Echo test service for the rpc
 * tests (see support.h).
 *
 * Echo records every request id it sees, so a test can prove a retry reached
 * the server twice with the same id, and counts handler entries, so a test
 * can prove a refused request never ran. Asynchronous replies come from
 * detached threads; rt_echo_wait_idle lets a test (and valgrind) see them
 * all finished before it ends.
 */
#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

static void must(mc_code rc, const mc_err *err) {
  if (rc != MC_OK)
    fail_msg("%s: %s", mc_code_name(rc), err->msg);
}

const char *rt_path(const rt_env *e, const char *name, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/%s", e->dir, name);
  return buf;
}

void rt_env_init(rt_env *e, const char *limits) {
  memset(e, 0, sizeof(*e));
  snprintf(e->dir, sizeof(e->dir), "/tmp/mediation-rpc-XXXXXX");
  if (mkdtemp(e->dir) == NULL)
    fail_msg("mkdtemp: %s", strerror(errno));
  mc_err err = {0};
  must(rpc_key_generate("police-studio", &e->police, &err), &err);
  must(rpc_key_generate("marriage-studio", &e->marriage, &err), &err);
  must(rpc_key_generate("coord-zhang", &e->coord, &err), &err);
  must(rpc_key_generate("op-wang", &e->op, &err), &err);
  must(rpc_key_generate("intruder", &e->intruder, &err), &err);
  char p[4][RPC_PUBLIC_KEY_B64_MAX];
  rpc_key_public_base64(e->police, p[0]);
  rpc_key_public_base64(e->marriage, p[1]);
  rpc_key_public_base64(e->coord, p[2]);
  rpc_key_public_base64(e->op, p[3]);
  char text[4096];
  snprintf(text, sizeof(text),
           "[subdistrict]\nname = 白鹤街道\ncase_prefix = BH\n"
           "[unit police-studio]\nname = 大石头调解工作室\nkind = police\npublic_key = %s\n"
           "[unit marriage-studio]\nname = 宋大姐调解工作室\nkind = marriage\npublic_key = %s\n"
           "[coordinator coord-zhang]\nname = 综治办\npublic_key = %s\n"
           "[operator op-wang]\nunit = police-studio\npublic_key = %s\n"
           "[limits]\n%s\n",
           p[0], p[1], p[2], p[3], limits ? limits : "");
  must(mc_registry_parse(text, "test.conf", &e->reg, &err), &err);
}

static void remove_tree(const char *path) {
  DIR *d = opendir(path);
  if (d != NULL) {
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
      if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
        continue;
      char sub[1024];
      snprintf(sub, sizeof(sub), "%s/%s", path, ent->d_name);
      struct stat st;
      if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
        remove_tree(sub);
      else
        unlink(sub);
    }
    closedir(d);
  }
  rmdir(path);
}

void rt_env_free(rt_env *e) {
  rpc_key_free(e->police);
  rpc_key_free(e->marriage);
  rpc_key_free(e->coord);
  rpc_key_free(e->op);
  rpc_key_free(e->intruder);
  mc_registry_free(e->reg);
  if (e->dir[0] != '\0')
    remove_tree(e->dir);
  memset(e, 0, sizeof(*e));
}

/* --- Echo --- */

#define SEEN_MAX 8192

static pthread_mutex_t echo_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t echo_cond = PTHREAD_COND_INITIALIZER;
static struct {
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  unsigned count;
} seen[SEEN_MAX];
static size_t n_seen;
static unsigned runs;
static unsigned active; /* async replies not yet sent */
static unsigned peak;   /* most async replies pending at once since reset */
static unsigned hold;   /* rt_echo_hold: slow async replies wait for this many */
static bool hold_open;

void rt_echo_reset(void) {
  rt_echo_wait_idle();
  pthread_mutex_lock(&echo_mtx);
  n_seen = 0;
  runs = 0;
  peak = 0;
  hold = 0;
  hold_open = false;
  pthread_mutex_unlock(&echo_mtx);
}

unsigned rt_echo_runs(void) {
  pthread_mutex_lock(&echo_mtx);
  unsigned n = runs;
  pthread_mutex_unlock(&echo_mtx);
  return n;
}

static unsigned seen_locked(const uint8_t *rid, bool add) {
  for (size_t i = 0; i < n_seen; i++) {
    if (memcmp(seen[i].rid, rid, RPC_REQUEST_ID_BYTES) == 0) {
      if (add)
        seen[i].count++;
      return seen[i].count;
    }
  }
  if (!add || n_seen == SEEN_MAX)
    return 0;
  memcpy(seen[n_seen].rid, rid, RPC_REQUEST_ID_BYTES);
  seen[n_seen].count = 1;
  return seen[n_seen++].count;
}

void rt_echo_hold(unsigned n) {
  pthread_mutex_lock(&echo_mtx);
  hold = n;
  hold_open = false;
  pthread_mutex_unlock(&echo_mtx);
}

unsigned rt_echo_peak(void) {
  pthread_mutex_lock(&echo_mtx);
  unsigned n = peak;
  pthread_mutex_unlock(&echo_mtx);
  return n;
}

unsigned rt_echo_seen(const uint8_t *rid) {
  pthread_mutex_lock(&echo_mtx);
  unsigned n = seen_locked(rid, false);
  pthread_mutex_unlock(&echo_mtx);
  return n;
}

void rt_echo_wait_idle(void) {
  pthread_mutex_lock(&echo_mtx);
  while (active > 0)
    pthread_cond_wait(&echo_cond, &echo_mtx);
  pthread_mutex_unlock(&echo_mtx);
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Completes the call as the request asks. `in` belongs to the call: it is
 * read only before the completion. */
static void echo_complete(rpc_call *call, const Mediation__V1__EchoRequest *in, unsigned count) {
  if (in->fail_code != MV_STATUS(OK)) {
    mc_code code = (mc_code)in->fail_code;
    rpc_call_fail(call, code, "echo: failing with %s as asked", mc_code_name(code));
    return;
  }
  Mediation__V1__EchoReply out = MEDIATION__V1__ECHO_REPLY__INIT;
  out.text = in->text;
  out.blob = in->blob;
  uint8_t *extra = NULL;
  if (in->reply_bytes > 0) {
    extra = calloc(1, in->reply_bytes);
    if (extra == NULL) {
      rpc_call_fail(call, MC_RESOURCE_EXHAUSTED, "echo: out of memory");
      return;
    }
    out.blob = (ProtobufCBinaryData){in->reply_bytes, extra};
  }
  out.request_id = (ProtobufCBinaryData){RPC_REQUEST_ID_BYTES, (uint8_t *)rpc_call_request_id(call)};
  out.caller = rpc_call_caller(call)->id;
  out.deadline_ms = rpc_call_deadline_ms(call);
  out.method = (char *)rpc_call_method(call);
  out.seen = count;
  out.tag = in->tag;
  rpc_call_reply(call, &out.base);
  free(extra);
}

typedef struct job {
  rpc_call *call;
  const Mediation__V1__EchoRequest *in;
  unsigned count;
  bool slow;
} job;

static void *echo_thread(void *arg) {
  job *j = arg;
  pthread_mutex_lock(&echo_mtx);
  bool held = j->slow && hold > 0;
  if (held) {
    /* Wait for the gate (or sleep_ms at most), not the clock: a slow
     * machine (valgrind) still gets `hold` calls pending at once. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += j->in->sleep_ms / 1000;
    until.tv_nsec += (long)(j->in->sleep_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    while (!hold_open && pthread_cond_timedwait(&echo_cond, &echo_mtx, &until) == 0) {
    }
  }
  pthread_mutex_unlock(&echo_mtx);
  if (j->slow && !held)
    sleep_ms(j->in->sleep_ms);
  echo_complete(j->call, j->in, j->count);
  free(j);
  pthread_mutex_lock(&echo_mtx);
  active--;
  pthread_cond_broadcast(&echo_cond);
  pthread_mutex_unlock(&echo_mtx);
  return NULL;
}

static void rt_echo_echo(Mediation__V1__Echo_Service *svc, const Mediation__V1__EchoRequest *in,
                         Mediation__V1__EchoReply_Closure done, void *call) {
  (void)svc;
  (void)done; /* rpc_call_reply is the same closure */
  pthread_mutex_lock(&echo_mtx);
  runs++;
  unsigned count = seen_locked(rpc_call_request_id(call), true);
  pthread_mutex_unlock(&echo_mtx);
  /* RT_TAG_SLOW_ONCE: the first sight of a request id is slow, a retry fast. */
  bool slow = in->sleep_ms > 0 && !(in->tag == RT_TAG_SLOW_ONCE && count > 1);
  if (!in->async) {
    if (slow)
      sleep_ms(in->sleep_ms); /* holds an nng thread: tests keep this short */
    echo_complete(call, in, count);
    return;
  }
  job *j = malloc(sizeof(*j));
  assert_non_null(j);
  *j = (job){call, in, count, slow};
  pthread_mutex_lock(&echo_mtx);
  if (++active > peak)
    peak = active;
  if (hold > 0 && active >= hold) {
    hold_open = true;
    pthread_cond_broadcast(&echo_cond);
  }
  pthread_mutex_unlock(&echo_mtx);
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int rc = pthread_create(&t, &attr, echo_thread, j);
  pthread_attr_destroy(&attr);
  assert_int_equal(rc, 0);
}

static void rt_echo_ping(Mediation__V1__Echo_Service *svc, const Mediation__V1__EchoEmpty *in,
                         Mediation__V1__EchoEmpty_Closure done, void *call) {
  (void)svc;
  (void)in;
  Mediation__V1__EchoEmpty out = MEDIATION__V1__ECHO_EMPTY__INIT;
  done(&out, call);
}

Mediation__V1__Echo_Service rt_echo = MEDIATION__V1__ECHO__INIT(rt_echo_);

mc_code rt_echo_call(rpc_client *c, const Mediation__V1__EchoRequest *req,
                     const rpc_call_opts *opts, Mediation__V1__EchoReply **out, char *msg) {
  ProtobufCMessage *reply = NULL;
  mc_err err = {0};
  mc_code rc =
      rpc_client_call(c, &mediation__v1__echo__descriptor, "Echo", &req->base, opts, &reply, &err);
  if (msg != NULL)
    snprintf(msg, 256, "%.255s", rc == MC_OK ? "" : err.msg);
  if (rc == MC_OK) {
    if (out != NULL)
      *out = (Mediation__V1__EchoReply *)reply;
    else
      protobuf_c_message_free_unpacked(reply, NULL);
  }
  return rc;
}

int rt_run(char *const argv[], const char *out_path) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (out_path != NULL)
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return -1;
  int status;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

/* --- Raw SP streams (no nng) --- */

static bool send_all(int fd, const uint8_t *b, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL); /* a closed peer: an error, not SIGPIPE */
    if (w <= 0)
      return false;
    b += w;
    n -= (size_t)w;
  }
  return true;
}

int rt_sp_connect(const char *url, int rcvbuf) {
  int fd = -1;
  if (strncmp(url, "ipc://", 6) == 0) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", url + 6);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (rcvbuf > 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
      fail_msg("connect %s: %s", url, strerror(errno));
  } else if (strncmp(url, "tcp://", 6) == 0) {
    const char *colon = strrchr(url, ':');
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(colon + 1))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
      fail_msg("connect %s: %s", url, strerror(errno));
  } else {
    fail_msg("rt_sp_connect: %s is neither ipc:// nor tcp://", url);
  }
  struct timeval tv = {2, 0}; /* writes stall once the server stops reading us */
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  static const uint8_t hello[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0}; /* REQ v0 */
  uint8_t peer[8];
  if (!send_all(fd, hello, 8) || read(fd, peer, 8) != 8)
    fail_msg("SP handshake with %s failed", url);
  return fd;
}

static size_t sp_header(uint8_t head[9], bool ipc, uint64_t len) {
  size_t n = 0;
  if (ipc)
    head[n++] = 1; /* the ipc transport's message type */
  for (int k = 0; k < 8; k++)
    head[n++] = (uint8_t)(len >> (56 - 8 * k));
  return n;
}

bool rt_sp_send_header(int fd, bool ipc, uint64_t len) {
  uint8_t head[9];
  return send_all(fd, head, sp_header(head, ipc, len));
}

bool rt_sp_send(int fd, bool ipc, uint32_t req_id, const uint8_t *b, size_t n) {
  uint8_t buf[512];
  size_t h = sp_header(buf, ipc, n + 4);
  uint32_t id = req_id | 0x80000000u;
  for (int k = 0; k < 4; k++)
    buf[h++] = (uint8_t)(id >> (24 - 8 * k));
  if (h + n <= sizeof(buf)) { /* one write: a small request goes out whole */
    memcpy(buf + h, b, n);
    return send_all(fd, buf, h + n);
  }
  return send_all(fd, buf, h) && send_all(fd, b, n);
}

/* 1: all n bytes; 0: closed (EOF or reset) before any; -1: otherwise. */
static int recv_all(int fd, uint8_t *b, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, b + got, n - got);
    if (r == 0 || (r < 0 && errno == ECONNRESET))
      return got == 0 ? 0 : -1;
    if (r < 0)
      return -1;
    got += (size_t)r;
  }
  return 1;
}

int rt_sp_recv(int fd, bool ipc, uint8_t **body, size_t *n) {
  uint8_t head[9];
  size_t h = ipc ? 9 : 8;
  int rc = recv_all(fd, head, h);
  if (rc != 1)
    return rc;
  uint64_t len = 0;
  for (size_t k = h - 8; k < h; k++)
    len = len << 8 | head[k];
  if (len < 4 || len > (1u << 20))
    return -1;
  uint8_t *b = malloc((size_t)len);
  if (b == NULL || recv_all(fd, b, (size_t)len) != 1) {
    free(b);
    return -1;
  }
  memmove(b, b + 4, (size_t)len - 4); /* the REQ request id */
  *body = b;
  *n = (size_t)len - 4;
  return 1;
}
