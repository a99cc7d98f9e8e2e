/*
 * admin.c - the RouterAdmin service, for coordinators: hot backups (a systemd
 * timer calls `mediactl backup`), whole-store checks, and the access log
 * (who read which case file, and when), and Status: the units' last pulls,
 * their pending deliveries and the newest backups, for the health view.
 *
 * A backup is a new directory under [router] backup_dir named by the time in
 * the subdistrict's offset, the one every displayed time uses, to the
 * millisecond and with the offset (20261128T023012.481+0800: two backups in
 * one second do not collide, and the name says its zone), and "-manual" when
 * a person asked for it rather than the nightly timer. It is made by
 * storage's st_backup (LMDB's compacting copy from one read snapshot while
 * writes go on). Afterwards, never before the new one exists, the oldest of
 * the same kind beyond backups_kept are removed: scheduled and manual
 * backups are counted apart, so backups made by hand never push the nightly
 * ones out. Names of earlier versions (20261127T223431.123Z, UTC) count as
 * scheduled.
 *
 * Sealed case files (storage/seal.c): with [router] public_key set, the
 * router loads <keys_dir>/router.key and signs, through the store's signer
 * callback, every case file's head as it changes. Each backup also makes an
 * anchor - the signed Merkle root over every head - returns it, and appends
 * it to <backup_dir>/anchors, for the coordinators to keep elsewhere; Verify
 * checks the signatures against the registry's public key and, given an
 * anchor line, that no case file changed in what it was at that anchor.
 */
#define _GNU_SOURCE /* nftw's FTW_DEPTH and FTW_PHYS */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sodium.h>
#include <unistd.h>

#include "core/i18n.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/pb.h"
#include "router/internal.h"

#define ADMIN_OF(service)                                                                     \
  ((rt_router *)((char *)(service)-offsetof(rt_router, admin)))
#define STAMP_LEN 24 /* 20261128T023012.481+0800 */
#define MANUAL_SUFFIX "-manual"

/* ---- The router's key ------------------------------------------------------------------- */

static bool sign_with_router_key(void *arg, const char *context, const uint8_t *data, size_t len,
                                 uint8_t sig[ST_SIG_BYTES]) {
  mc_err err;
  if (rpc_sign_bytes(arg, context, data, len, sig, &err) == MC_OK)
    return true;
  mc_log(MC_LOG_ERR, NULL, "signing %s: %s", context, err.msg);
  return false;
}

static bool check_router_signature(void *arg, const char *context, const uint8_t *data,
                                   size_t len, const uint8_t *sig, size_t sig_len) {
  const mc_registry *reg = arg;
  mc_err err;
  return rpc_verify_bytes(reg->router.public_key, context, data, len, sig, sig_len, &err) ==
         MC_OK;
}

mc_code rt_signer_open(rt_router *rt, st_options *so, mc_err *err) {
  if (!rt->reg->router.has_key) {
    mc_log(MC_LOG_WARNING, NULL,
           "no [router] public_key: case files are not signed and no anchors are made");
    return MC_OK;
  }
  if (rt->reg->keys_dir == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("[router] public_key is set but keys_dir is not: the router signs with "
                      "<keys_dir>/router.key"));
  mc_code rc = rpc_key_load(rt->reg->keys_dir, "router", &rt->key, err);
  if (rc != MC_OK)
    return rc;
  if (memcmp(rpc_key_public(rt->key), rt->reg->router.public_key, RPC_PUBLIC_KEY_BYTES) != 0) {
    rpc_key_free(rt->key);
    rt->key = NULL;
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("%s/router.key does not match [router] public_key"), rt->reg->keys_dir);
  }
  so->sign = sign_with_router_key;
  so->sign_arg = rt->key;
  return MC_OK;
}

/* Reads ST_SEARCH_KEY_BYTES from path into key; creates the file (0600,
 * O_EXCL, synced) with fresh random bytes if create and it does not
 * exist. */
static mc_code read_search_key(const char *path, bool create, uint8_t *key, bool *found,
                               mc_err *err) {
  *found = false;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && create) {
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
      return mc_err_set(err, MC_PERMISSION_DENIED, "cannot create %s: %s", path,
                        strerror(errno));
    randombytes_buf(key, ST_SEARCH_KEY_BYTES);
    bool ok = write(fd, key, ST_SEARCH_KEY_BYTES) == ST_SEARCH_KEY_BYTES && fsync(fd) == 0;
    close(fd);
    if (!ok)
      return mc_err_set(err, MC_UNAVAILABLE, "cannot write %s", path);
    mc_log(MC_LOG_NOTICE, NULL, "made a new search key %s (the search index is rebuilt with it)",
           path);
    *found = true;
    return MC_OK;
  }
  if (fd < 0)
    return errno == ENOENT ? MC_OK
                           : mc_err_set(err, MC_PERMISSION_DENIED, "cannot read %s: %s", path,
                                        strerror(errno));
  ssize_t n = read(fd, key, ST_SEARCH_KEY_BYTES);
  uint8_t extra;
  ssize_t more = read(fd, &extra, 1);
  close(fd);
  if (n != ST_SEARCH_KEY_BYTES || more != 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s: expected exactly %d bytes", path,
                      ST_SEARCH_KEY_BYTES);
  *found = true;
  return MC_OK;
}

mc_code rt_search_key_open(rt_router *rt, st_options *so, mc_err *err) {
  char path[4096];
  bool found = false;
  mc_code rc = MC_OK;
  if (rt->reg->keys_dir != NULL) {
    snprintf(path, sizeof(path), "%s/" RT_SEARCH_KEY_FILE, rt->reg->keys_dir);
    rc = read_search_key(path, false, rt->search_key, &found, err);
  }
  if (rc == MC_OK && !found) {
    /* No key with the others (mkdeploy makes one): one of the router's own,
     * next to its store but never inside it, so a backup of the store does
     * not carry it. */
    snprintf(path, sizeof(path), "%s/" RT_SEARCH_KEY_FILE, so->dir);
    if (mkdir(so->dir, 0700) != 0 && errno != EEXIST)
      return mc_err_set(err, MC_PERMISSION_DENIED, "cannot create %s: %s", so->dir,
                        strerror(errno));
    rc = read_search_key(path, true, rt->search_key, &found, err);
  }
  if (rc == MC_OK)
    so->search_key = rt->search_key;
  return rc;
}

/* Makes an anchor and appends it to <backup_dir>/anchors (synced: the line
 * is the coordinators' evidence). line is "" if the router cannot sign. */
static mc_code anchor_now(rt_router *rt, char line[ST_ANCHOR_MAX], st_anchor *a, mc_err *err) {
  line[0] = '\0';
  if (rt->key == NULL)
    return MC_OK;
  mc_code rc = st_anchor_make(rt->store, mc_now_ms(), line, a, err);
  if (rc != MC_OK)
    return rc;
  const char *dir = rt->reg->router.backup_dir;
  if (dir == NULL)
    return MC_OK;
  char path[4096];
  snprintf(path, sizeof(path), "%s/anchors", dir);
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  char buf[ST_ANCHOR_MAX + 1];
  int n = snprintf(buf, sizeof(buf), "%s\n", line);
  bool ok = fd >= 0 && write(fd, buf, (size_t)n) == n && fsync(fd) == 0;
  int e = errno;
  if (fd >= 0)
    close(fd);
  if (!ok)
    mc_log(MC_LOG_ERR, NULL, "anchor: cannot append to %s: %s", path, strerror(e));
  mc_log(MC_LOG_NOTICE, NULL, "anchor: %llu case files, step %llu",
         (unsigned long long)a->cases, (unsigned long long)a->step);
  return MC_OK;
}

/* A backup's name: its instant (Unix ms) and kind. False for anything
 * else in the directory, which is never touched. */
static bool parse_stamp(const char *name, int64_t *utc_ms, bool *manual) {
  int len = (int)strlen(name);
  if (len < 20 || name[8] != 'T' || name[15] != '.')
    return false;
  for (int i = 0; i < 19; i++) {
    if (i != 8 && i != 15 && (name[i] < '0' || name[i] > '9'))
      return false;
  }
  int offset_minutes = 0, rest = 20;
  if (name[19] != 'Z') {
    if ((name[19] != '+' && name[19] != '-') || len < 24)
      return false;
    for (int i = 20; i < 24; i++) {
      if (name[i] < '0' || name[i] > '9')
        return false;
    }
    offset_minutes = ((name[20] - '0') * 10 + (name[21] - '0')) * 60 +
                     (name[22] - '0') * 10 + (name[23] - '0');
    if (name[19] == '-')
      offset_minutes = -offset_minutes;
    rest = 24;
  }
  if (name[rest] == '\0')
    *manual = false;
  else if (strcmp(name + rest, MANUAL_SUFFIX) == 0)
    *manual = true;
  else
    return false;
  int v[7];
  static const int at[7] = {0, 4, 6, 9, 11, 13, 16}, width[7] = {4, 2, 2, 2, 2, 2, 3};
  for (int k = 0; k < 7; k++) {
    v[k] = 0;
    for (int i = 0; i < width[k]; i++)
      v[k] = v[k] * 10 + (name[at[k] + i] - '0');
  }
  mc_date day = {.year = v[0], .month = v[1], .day = v[2]};
  *utc_ms = mc_date_to_ms(day, offset_minutes) +
            ((int64_t)v[3] * 3600 + v[4] * 60 + v[5]) * 1000 + v[6];
  return true;
}

typedef struct backup_name {
  char *name;
  int64_t utc_ms;
} backup_name;

static int compare_instants(const void *a, const void *b) {
  const backup_name *x = a, *y = b;
  if (x->utc_ms != y->utc_ms)
    return x->utc_ms < y->utc_ms ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Removes the oldest backups of one kind (manual or scheduled) beyond
 * `kept`; their names go into removed[] (malloc'd strings). Returns how
 * many. */
static size_t prune(const char *dir, unsigned kept, bool manual, char ***removed) {
  DIR *d = opendir(dir);
  *removed = NULL;
  if (d == NULL)
    return 0;
  backup_name *names = NULL;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    int64_t ms;
    bool is_manual;
    if (!parse_stamp(e->d_name, &ms, &is_manual) || is_manual != manual)
      continue;
    backup_name *grown = realloc(names, (n + 1) * sizeof(*names));
    if (grown == NULL)
      break;
    names = grown;
    if ((names[n].name = strdup(e->d_name)) != NULL)
      names[n++].utc_ms = ms;
  }
  closedir(d);
  if (n > 1)
    qsort(names, n, sizeof(*names), compare_instants);
  size_t excess = n > kept ? n - kept : 0, gone = 0;
  char **out = excess ? calloc(excess, sizeof(*out)) : NULL;
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, names[i].name);
    if (i < excess && out != NULL && nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS) == 0) {
      out[gone++] = names[i].name;
      continue;
    }
    if (i < excess)
      mc_log(MC_LOG_WARNING, NULL, "backup: cannot remove %s: %s", path, strerror(errno));
    free(names[i].name);
  }
  free(names);
  *removed = out;
  return gone;
}

static void admin_backup(Mediation__V1__RouterAdmin_Service *service,
                         const Mediation__V1__BackupRequest *input,
                         Mediation__V1__BackupReply_Closure closure, void *closure_data) {
  (void)closure;
  rt_router *rt = ADMIN_OF(service);
  bool manual = !input->scheduled;
  rpc_call *call = closure_data;
  const char *dir = rt->reg->router.backup_dir;
  if (dir == NULL) {
    rpc_call_fail(call, MC_FAILED_PRECONDITION,
                  _("no backup_dir in [router]: set one where backups may be written"));
    return;
  }
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    rpc_call_fail(call, MC_UNAVAILABLE, _("backup_dir %s: %s"), dir, strerror(errno));
    return;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int offset = rt->reg->utc_offset_minutes;
  time_t local = ts.tv_sec + (time_t)offset * 60;
  struct tm tm;
  gmtime_r(&local, &tm);
  char stamp[STAMP_LEN + sizeof(MANUAL_SUFFIX)], path[4096];
  size_t n = strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
  int off = offset < 0 ? -offset : offset;
  snprintf(stamp + n, sizeof(stamp) - n, ".%03ld%c%02d%02d%s", ts.tv_nsec / 1000000,
           offset < 0 ? '-' : '+', off / 60, off % 60, manual ? MANUAL_SUFFIX : "");
  snprintf(path, sizeof(path), "%s/%s", dir, stamp);
  int64_t started = mc_mono_ms();
  mc_err err;
  /* The anchor first: the copy then holds every step it covers, so the
   * anchor checks this very backup once restored (made after, it could
   * cover steps the copy does not have). */
  char anchor[ST_ANCHOR_MAX];
  st_anchor a;
  if (anchor_now(rt, anchor, &a, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "backup %s: no anchor: %s", path, err.msg);
    anchor[0] = '\0';
  }
  if (st_backup(rt->store, path, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "backup to %s failed: %s", path, err.msg);
    rpc_call_fail_err(call, &err);
    return;
  }
  char file[4160];
  struct stat st;
  snprintf(file, sizeof(file), "%s/data.mdb", path);
  int64_t bytes = stat(file, &st) == 0 ? (int64_t)st.st_size : 0;
  char **removed = NULL;
  size_t n_removed = prune(dir, rt->reg->router.backups_kept, manual, &removed);
  Mediation__V1__BackupReply reply = MEDIATION__V1__BACKUP_REPLY__INIT;
  reply.path = path;
  reply.bytes = bytes;
  reply.took_ms = mc_mono_ms() - started;
  reply.removed = removed;
  reply.n_removed = n_removed;
  reply.anchor = anchor;
  mc_log(MC_LOG_NOTICE, NULL, "backup %s: %lld bytes in %lld ms, %zu old removed", path,
         (long long)bytes, (long long)reply.took_ms, n_removed);
  rpc_call_reply(call, &reply.base);
  for (size_t i = 0; i < n_removed; i++)
    free(removed[i]);
  free(removed);
}

typedef struct problems {
  Mediation__V1__VerifyProblem *items;
  size_t n, max;
} problems;

static void collect(void *arg, const char *case_id, uint32_t seq, mc_code code, const char *msg) {
  problems *p = arg;
  mc_log(MC_LOG_ERR, case_id, "verify: seq %u: %s: %s", seq, mc_code_name(code), msg);
  if (p->n >= p->max)
    return;
  Mediation__V1__VerifyProblem *v = &p->items[p->n];
  mediation__v1__verify_problem__init(v);
  v->case_id = strdup(case_id ? case_id : "");
  v->message = strdup(msg);
  v->seq = seq;
  v->code = (Mediation__V1__StatusCode)code;
  if (v->case_id == NULL || v->message == NULL) {
    free(v->case_id);
    free(v->message);
    return;
  }
  p->n++;
}

static void admin_verify(Mediation__V1__RouterAdmin_Service *service,
                         const Mediation__V1__VerifyRequest *input,
                         Mediation__V1__VerifyReply_Closure closure, void *closure_data) {
  (void)closure;
  rt_router *rt = ADMIN_OF(service);
  rpc_call *call = closure_data;
  problems p = {.max = input->max_problems ? input->max_problems : 100};
  if (p.max > 1000)
    p.max = 1000;
  p.items = calloc(p.max, sizeof(*p.items));
  Mediation__V1__VerifyProblem **ptrs = calloc(p.max, sizeof(*ptrs));
  if (p.items == NULL || ptrs == NULL) {
    free(p.items);
    free(ptrs);
    rpc_call_fail(call, MC_UNAVAILABLE, _("out of memory"));
    return;
  }
  int64_t started = mc_mono_ms();
  uint64_t found = 0;
  mc_err err;
  st_verify_options vo = {
      .check = rt->reg->router.has_key ? check_router_signature : NULL,
      .check_arg = (void *)rt->reg,
      .anchor = input->anchor[0] != '\0' ? input->anchor : NULL,
  };
  if (vo.anchor != NULL && strlen(vo.anchor) >= ST_ANCHOR_MAX) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("anchor: longer than an anchor line"));
  } else if (st_verify_with(rt->store, &vo, collect, &p, &found, &err) != MC_OK) {
    rpc_call_fail_err(call, &err);
  } else {
    for (size_t i = 0; i < p.n; i++)
      ptrs[i] = &p.items[i];
    Mediation__V1__VerifyReply reply = MEDIATION__V1__VERIFY_REPLY__INIT;
    reply.problems = found;
    reply.details = ptrs;
    reply.n_details = p.n;
    reply.took_ms = mc_mono_ms() - started;
    reply.signatures_checked = vo.check != NULL;
    mc_log(found ? MC_LOG_ERR : MC_LOG_NOTICE, NULL, "verify: %llu problems in %lld ms",
           (unsigned long long)found, (long long)reply.took_ms);
    rpc_call_reply(call, &reply.base);
  }
  for (size_t i = 0; i < p.n; i++) {
    free(p.items[i].case_id);
    free(p.items[i].message);
  }
  free(p.items);
  free(ptrs);
}

static void admin_anchor(Mediation__V1__RouterAdmin_Service *service,
                         const Mediation__V1__AnchorRequest *input,
                         Mediation__V1__AnchorReply_Closure closure, void *closure_data) {
  (void)input;
  (void)closure;
  rt_router *rt = ADMIN_OF(service);
  rpc_call *call = closure_data;
  if (rt->key == NULL) {
    rpc_call_fail(call, MC_FAILED_PRECONDITION,
                  _("the router has no signing key: set [router] public_key (and keys_dir/router.key)"));
    return;
  }
  char line[ST_ANCHOR_MAX];
  st_anchor a;
  mc_err err;
  if (anchor_now(rt, line, &a, &err) != MC_OK) {
    rpc_call_fail_err(call, &err);
    return;
  }
  Mediation__V1__AnchorReply reply = MEDIATION__V1__ANCHOR_REPLY__INIT;
  reply.anchor = line;
  reply.cases = a.cases;
  rpc_call_reply(call, &reply.base);
}

typedef struct access_page {
  const Mediation__V1__ListAccessRequest *req;
  Mediation__V1__AccessRecord **records; /* owned copies */
  size_t n, limit;
  bool truncated, oom;
} access_page;

static bool collect_access(void *arg, const st_access_record *rec) {
  access_page *p = arg;
  if (p->req->case_id[0] != '\0' && strcmp(rec->case_id, p->req->case_id) != 0)
    return true;
  if (p->req->who[0] != '\0' && (rec->who == NULL || strcmp(rec->who->id, p->req->who) != 0))
    return true;
  if (p->n == p->limit) {
    p->truncated = true;
    return false;
  }
  ProtobufCMessage *copy = NULL;
  if (mc_pb_clone(&rec->base, &copy, NULL) != MC_OK) {
    p->oom = true;
    return false;
  }
  p->records[p->n++] = (Mediation__V1__AccessRecord *)copy;
  return true;
}

static void admin_list_access(Mediation__V1__RouterAdmin_Service *service,
                              const Mediation__V1__ListAccessRequest *input,
                              Mediation__V1__ListAccessReply_Closure closure, void *closure_data) {
  (void)closure;
  rt_router *rt = ADMIN_OF(service);
  rpc_call *call = closure_data;
  const mc_limits *lim = &rt->reg->limits;
  uint32_t limit = input->limit ? input->limit : lim->page_size_default;
  if (limit > lim->page_size_max) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("limit %u is above the page limit %u"), input->limit,
                  lim->page_size_max);
    return;
  }
  access_page p = {.req = input, .limit = limit};
  p.records = calloc(limit, sizeof(*p.records));
  st_txn *txn = NULL;
  mc_err err;
  mc_code rc = p.records ? st_read_begin(rt->store, &txn, &err)
                         : mc_err_set(&err, MC_UNAVAILABLE, _("out of memory"));
  if (rc == MC_OK)
    rc = st_access_scan(txn, input->from_ms, input->to_ms, collect_access, &p, &err);
  st_read_end(txn);
  if (rc == MC_OK && p.oom)
    rc = mc_err_set(&err, MC_UNAVAILABLE, _("out of memory"));
  if (rc != MC_OK) {
    rpc_call_fail_err(call, &err);
  } else {
    Mediation__V1__ListAccessReply reply = MEDIATION__V1__LIST_ACCESS_REPLY__INIT;
    reply.records = p.records;
    reply.n_records = p.n;
    reply.truncated = p.truncated;
    rpc_call_reply(call, &reply.base);
  }
  st_messages_free(p.records, p.n);
}

/* The newest backup of each kind in dir (names as parse_stamp reads them;
 * anything else is ignored). Names are copied into the callers' buffers;
 * "" and 0 when there is none. */
static void newest_backups(const char *dir, char sched[64], int64_t *sched_ms, char manual[64],
                           int64_t *manual_ms) {
  sched[0] = manual[0] = '\0';
  *sched_ms = *manual_ms = 0;
  DIR *d = dir != NULL ? opendir(dir) : NULL;
  if (d == NULL)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    int64_t ms;
    bool is_manual;
    if (strlen(e->d_name) >= 64 || !parse_stamp(e->d_name, &ms, &is_manual))
      continue;
    char *name = is_manual ? manual : sched;
    int64_t *at = is_manual ? manual_ms : sched_ms;
    if (name[0] == '\0' || ms > *at) {
      memcpy(name, e->d_name, strlen(e->d_name) + 1); /* < 64 bytes, checked above */
      *at = ms;
    }
  }
  closedir(d);
}

static void admin_status(Mediation__V1__RouterAdmin_Service *service,
                         const Mediation__V1__StatusRequest *input,
                         Mediation__V1__StatusReply_Closure closure, void *closure_data) {
  (void)input;
  (void)closure;
  rt_router *rt = ADMIN_OF(service);
  rpc_call *call = closure_data;
  const mc_registry *reg = rt->reg;
  size_t n = reg->n_units;
  Mediation__V1__UnitStatus *rows = calloc(n ? n : 1, sizeof(*rows));
  Mediation__V1__UnitStatus **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
  st_txn *txn = NULL;
  mc_err err;
  mc_code rc = rows && ptrs ? st_read_begin(rt->store, &txn, &err)
                            : mc_err_set(&err, MC_UNAVAILABLE, _("out of memory"));
  for (size_t i = 0; rc == MC_OK && i < n; i++) {
    const mc_unit *u = &reg->units[i];
    Mediation__V1__UnitStatus *r = &rows[i];
    mediation__v1__unit_status__init(r);
    r->unit = u->id;
    r->name = u->name;
    const mc_principal *p = mc_registry_principal(reg, u->id);
    if (p != NULL)
      r->last_pull_ms = atomic_load(&rt->last_pull_ms[p - reg->principals]);
    rc = st_delivery_count(txn, u->id, &r->pending_deliveries, &r->oldest_pending_ms, &err);
    ptrs[i] = r;
  }
  st_read_end(txn);
  if (rc != MC_OK) {
    rpc_call_fail_err(call, &err);
  } else {
    char sched[64], manual[64];
    Mediation__V1__StatusReply reply = MEDIATION__V1__STATUS_REPLY__INIT;
    reply.units = ptrs;
    reply.n_units = n;
    reply.now_ms = mc_now_ms();
    newest_backups(reg->router.backup_dir, sched, &reply.last_scheduled_backup_ms, manual,
                   &reply.last_manual_backup_ms);
    reply.last_scheduled_backup = sched;
    reply.last_manual_backup = manual;
    reply.backups_kept = reg->router.backups_kept;
    reply.backup_dir_set = reg->router.backup_dir != NULL;
    rpc_call_reply(call, &reply.base);
  }
  free(rows);
  free(ptrs);
}

void rt_admin_init(rt_router *rt) {
  Mediation__V1__RouterAdmin_Service init = MEDIATION__V1__ROUTER_ADMIN__INIT(admin_);
  rt->admin = init;
}
