/*
 * common.c - labels, dates and money as the documents print them, and the
 * print token (case id + hash-chain head) that ties a printed case file to
 * the store.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/names.h"
#include "documents/documents.h"
#include "documents/internal.h"

const char *doc_unit_label(const mc_registry *reg, const char *id) {
  const mc_unit *u = reg != NULL && id != NULL ? mc_registry_unit(reg, id) : NULL;
  return u != NULL && u->name != NULL ? u->name : (id != NULL ? id : "");
}

const char *doc_community_label(const mc_registry *reg, const char *id) {
  const mc_community *c = reg != NULL && id != NULL ? mc_registry_community(reg, id) : NULL;
  return c != NULL && c->name != NULL ? c->name : (id != NULL ? id : "");
}

static int offset_of(const mc_registry *reg) {
  return reg != NULL ? reg->utc_offset_minutes : 480;
}

void doc_date_cn(const mc_registry *reg, int64_t ms, char buf[DOC_FMT_MAX]) {
  if (ms <= 0) {
    buf[0] = '\0';
    return;
  }
  mc_date d = mc_date_of(ms, offset_of(reg));
  snprintf(buf, DOC_FMT_MAX, "%d年%d月%d日", d.year, d.month, d.day);
}

void doc_time(const mc_registry *reg, int64_t ms, char buf[DOC_FMT_MAX]) {
  if (ms <= 0)
    buf[0] = '\0';
  else
    mc_format_ms(ms, offset_of(reg), buf, DOC_FMT_MAX);
}

void doc_yuan(int64_t fen, char buf[DOC_FMT_MAX]) {
  snprintf(buf, DOC_FMT_MAX, "%lld.%02lld 元", (long long)(fen / 100), (long long)(fen % 100));
}

const char *doc_label(const mc_name *table, int value) {
  if (value == 0)
    return "";
  const char *l = mc_label_of(table, value);
  return l != NULL ? l : "";
}

void doc_cat(char *buf, size_t cap, const char *fmt, ...) {
  size_t len = strlen(buf);
  if (len + 1 >= cap)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + len, cap - len, fmt, ap);
  va_end(ap);
}

void doc_team_names(const mv_case *c, Mediation__V1__TeamRole role, char *buf, size_t cap) {
  buf[0] = '\0';
  bool any_active = false;
  for (size_t i = 0; i < c->n_team; i++)
    if (c->team[i]->role == role && c->team[i]->released_ms == 0)
      any_active = true;
  for (size_t i = 0; i < c->n_team; i++) {
    const mv_member *m = c->team[i];
    if (m->role != role || (any_active && m->released_ms != 0))
      continue;
    doc_cat(buf, cap, "%s%s", buf[0] ? "、" : "", m->person);
  }
}

void doc_result(const mv_case *c, char *buf, size_t cap) {
  buf[0] = '\0';
  if (c->outcome != NULL)
    doc_cat(buf, cap, "%s", doc_label(mc_outcome_names, c->outcome->kind));
  if (c->court_result != NULL)
    doc_cat(buf, cap, "%s诉讼：%s", buf[0] ? "；" : "",
            doc_label(mc_court_result_names, c->court_result->kind));
  if (c->state == MV_STATE(WITHDRAWN))
    doc_cat(buf, cap, "%s撤回", buf[0] ? "；" : "");
}

void doc_hex(const uint8_t *bytes, size_t n, char *out, size_t cap) {
  static const char hexd[] = "0123456789abcdef";
  size_t j = 0;
  for (size_t i = 0; i < n && j + 2 < cap; i++) {
    out[j++] = hexd[bytes[i] >> 4];
    out[j++] = hexd[bytes[i] & 15];
  }
  if (cap > 0)
    out[j] = '\0';
}

mc_code doc_print_token(const mv_case *c, char *buf, size_t cap, mc_err *err) {
  if (c == NULL || c->id == NULL || c->id[0] == '\0')
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case: missing id");
  if (c->last_event_hash.len == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case %s: no hash-chain head", c->id);
  char hex[2 * 64 + 1];
  doc_hex(c->last_event_hash.data, c->last_event_hash.len, hex, sizeof(hex));
  if ((size_t)snprintf(buf, cap, "%s %s", c->id, hex) >= cap)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case %s: token too long", c->id);
  return MC_OK;
}
