/*
 * state.c - mediation-remind's memory (see remind.h): one small JSON file,
 * replaced whole and atomically on every change. A file rather than LMDB
 * because it holds tens of entries, is rewritten a few times a cycle at
 * most, and an operator can read it (`jq . remind.state`) when asking why
 * a message did or did not go out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/remind/remind.h"

static json_object *member(json_object *o, const char *key, json_type type) {
  json_object *v = NULL;
  if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
    return NULL;
  return v;
}

/* The state's three parts, made when absent (a fresh or older file). */
static bool shape(rm_state *st) {
  static const char *objs[] = {"digests", "overdue"};
  for (size_t i = 0; i < 2; i++) {
    if (member(st->root, objs[i], json_type_object) == NULL &&
        json_object_object_add(st->root, objs[i], json_object_new_object()) != 0)
      return false;
  }
  if (member(st->root, "queue", json_type_array) == NULL &&
      json_object_object_add(st->root, "queue", json_object_new_array()) != 0)
    return false;
  return true;
}

mc_code rm_state_load(rm_state *st, const char *data_dir, mc_err *err) {
  memset(st, 0, sizeof(*st));
  if (snprintf(st->path, sizeof(st->path), "%s/remind.state", data_dir) >= (int)sizeof(st->path))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "[remind] data_dir: path too long");
  if (mkdir(data_dir, 0700) != 0 && errno != EEXIST)
    return mc_err_set(err, MC_FAILED_PRECONDITION, "[remind] data_dir %s: %s", data_dir,
                      strerror(errno));
  if (access(st->path, F_OK) != 0) {
    if (errno != ENOENT)
      return mc_err_set(err, MC_FAILED_PRECONDITION, "%s: %s", st->path, strerror(errno));
    st->fresh = true;
    st->root = json_object_new_object();
  } else {
    st->root = json_object_from_file(st->path);
    if (st->root == NULL || !json_object_is_type(st->root, json_type_object)) {
      json_object_put(st->root);
      st->root = NULL;
      /* Refused, not reset: starting over would resend every alert and
       * could drop queued messages. */
      return mc_err_set(err, MC_DATA_LOSS,
                        "%s is not a reminder state file (JSON object): move it aside to "
                        "start over",
                        st->path);
    }
  }
  if (st->root == NULL || !shape(st)) {
    rm_state_free(st);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  }
  return MC_OK;
}

mc_code rm_state_save(rm_state *st, mc_err *err) {
  char tmp[1100];
  snprintf(tmp, sizeof(tmp), "%s.tmp", st->path);
  const char *text = json_object_to_json_string_ext(st->root, JSON_C_TO_STRING_PLAIN);
  if (text == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", tmp, strerror(errno));
  size_t len = strlen(text), off = 0;
  while (off < len) {
    ssize_t w = write(fd, text + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      int e = errno;
      close(fd);
      unlink(tmp);
      return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", tmp, strerror(e));
    }
    off += (size_t)w;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    int e = errno;
    unlink(tmp);
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", tmp, strerror(e));
  }
  if (rename(tmp, st->path) != 0)
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", st->path, strerror(errno));
  /* The rename itself must reach the disk before a message goes out. */
  char dir[1024];
  snprintf(dir, sizeof(dir), "%s", st->path);
  char *slash = strrchr(dir, '/');
  if (slash != NULL)
    *slash = '\0';
  int dfd = open(slash != NULL ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  st->fresh = false;
  return MC_OK;
}

void rm_state_free(rm_state *st) {
  json_object_put(st->root);
  st->root = NULL;
}

const char *rm_state_digest_day(rm_state *st, const char *unit) {
  json_object *d = member(member(st->root, "digests", json_type_object), unit, json_type_string);
  return d != NULL ? json_object_get_string(d) : "";
}

void rm_state_set_digest_day(rm_state *st, const char *unit, const char *day) {
  json_object_object_add(member(st->root, "digests", json_type_object), unit,
                         json_object_new_string(day));
}

json_object *rm_state_overdue(rm_state *st, const char *unit) {
  return member(member(st->root, "overdue", json_type_object), unit, json_type_object);
}

void rm_state_set_overdue(rm_state *st, const char *unit, const rm_list *cases) {
  json_object *m = json_object_new_object();
  for (size_t i = 0; m != NULL && i < cases->n; i++)
    json_object_object_add(m, cases->items[i].id,
                           json_object_new_int64(cases->items[i].deadline_ms));
  json_object_object_add(member(st->root, "overdue", json_type_object), unit, m);
}

json_object *rm_state_queue(rm_state *st) { return member(st->root, "queue", json_type_array); }

static void enqueue_one(rm_state *st, const char *unit, const char *channel, const char *subject,
                        const char *body, int64_t now_ms) {
  json_object *m = json_object_new_object();
  if (m == NULL)
    return;
  json_object_object_add(m, "unit", json_object_new_string(unit));
  json_object_object_add(m, "channel", json_object_new_string(channel));
  json_object_object_add(m, "subject", json_object_new_string(subject));
  json_object_object_add(m, "body", json_object_new_string(body));
  json_object_object_add(m, "made_ms", json_object_new_int64(now_ms));
  json_object_object_add(m, "attempts", json_object_new_int(0));
  json_object_array_add(rm_state_queue(st), m);
}

void rm_state_enqueue(rm_state *st, const mc_unit *unit, const char *subject, const char *body,
                      int64_t now_ms) {
  if (unit->remind.smtp_url != NULL)
    enqueue_one(st, unit->id, "mail", subject, body, now_ms);
  if (unit->remind.webhook_url != NULL)
    enqueue_one(st, unit->id, "webhook", subject, body, now_ms);
}
