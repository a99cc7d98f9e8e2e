/*
 * format.c - how mediactl writes and reads the things people type and read:
 * money, times, percentages, names of units and communities, enum values.
 *
 * Money is integer fen everywhere (as in the store): parsing "123.45" never
 * goes through a float, and printing divides integers. Times are read and
 * written at the subdistrict's UTC offset from the configuration (+08:00 by
 * default), never the machine's time zone, so a coordinator abroad and the
 * report agree on which day and month a step belongs to.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "documents/report_text.h"
#include "services/coordinator/ctl.h"

void ctl_fmt_int(int64_t v, char buf[CTL_FMT_MAX]) {
  snprintf(buf, CTL_FMT_MAX, "%" PRId64, v);
}

void ctl_fmt_yuan(int64_t fen, char buf[CTL_FMT_MAX]) {
  const char *sign = fen < 0 ? "-" : "";
  uint64_t a = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
  snprintf(buf, CTL_FMT_MAX, "%s%" PRIu64 ".%02" PRIu64, sign, a / 100, a % 100);
}

/* 万元 and percentages are written by documents/ (report_text.h), so the
 * figures tables and the report's sentences say 403.64 and 66.7% alike. */
void ctl_fmt_wan(int64_t fen, char buf[CTL_FMT_MAX]) { doc_fmt_wan(fen, buf, CTL_FMT_MAX); }

void ctl_fmt_time(const ctl_ctx *ctx, int64_t ms, char buf[CTL_FMT_MAX]) {
  if (ms <= 0) {
    snprintf(buf, CTL_FMT_MAX, "—");
    return;
  }
  int offset = ctx->reg ? ctx->reg->utc_offset_minutes : 480;
  mc_format_ms(ms, offset, buf, CTL_FMT_MAX);
}

void ctl_fmt_duration(int64_t ms, char buf[CTL_FMT_MAX]) {
  if (ms < 0)
    ms = 0;
  int64_t minutes = ms / 60000, hours = minutes / 60, days = hours / 24;
  if (days > 0)
    snprintf(buf, CTL_FMT_MAX, "%" PRId64 "天%" PRId64 "小时", days, hours % 24);
  else if (hours > 0)
    snprintf(buf, CTL_FMT_MAX, "%" PRId64 "小时%" PRId64 "分钟", hours, minutes % 60);
  else if (minutes > 0)
    snprintf(buf, CTL_FMT_MAX, "%" PRId64 "分钟", minutes);
  else
    snprintf(buf, CTL_FMT_MAX, "%" PRId64 "秒", ms / 1000);
}

void ctl_fmt_percent(int64_t num, int64_t den, char buf[CTL_FMT_MAX]) {
  doc_fmt_percent(num, den, buf, CTL_FMT_MAX);
}

int ctl_parse_yuan(const char *s, int64_t max_fen, int64_t *fen) {
  int64_t whole = 0;
  const char *p = s;
  if (*p < '0' || *p > '9')
    return -1;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (whole > (INT64_MAX / 100 - 9) / 10)
      return -1;
    whole = whole * 10 + (*p - '0');
  }
  int64_t cents = 0;
  if (*p == '.') {
    p++;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
      if (digits == 2)
        return -1;
      cents = cents * 10 + (*p - '0');
    }
    if (digits == 0)
      return -1;
    if (digits == 1)
      cents *= 10;
  }
  if (*p != '\0')
    return -1;
  int64_t v = whole * 100 + cents;
  if (v > max_fen)
    return -1;
  *fen = v;
  return 0;
}

int ctl_parse_long(const char *s, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

static int offset_of(const ctl_ctx *ctx) { return ctx->reg ? ctx->reg->utc_offset_minutes : 480; }

static bool valid_date(mc_date d) {
  static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (d.year < 1970 || d.year > 9999 || d.month < 1 || d.month > 12 || d.day < 1)
    return false;
  if (d.day > days[d.month - 1])
    return false;
  bool leap = (d.year % 4 == 0 && d.year % 100 != 0) || d.year % 400 == 0;
  return !(d.month == 2 && d.day == 29 && !leap);
}

int ctl_parse_date(const ctl_ctx *ctx, const char *s, mc_date *out) {
  (void)ctx;
  mc_date d;
  int used = 0;
  if (sscanf(s, "%4d-%2d-%2d%n", &d.year, &d.month, &d.day, &used) != 3 || s[used] != '\0' ||
      used != 10 || !valid_date(d))
    return -1;
  *out = d;
  return 0;
}

int ctl_parse_time(const ctl_ctx *ctx, const char *s, int64_t *ms) {
  if (strcmp(s, "now") == 0) {
    *ms = mc_now_ms();
    return 0;
  }
  mc_date d;
  int used = 0;
  if (sscanf(s, "%4d-%2d-%2d%n", &d.year, &d.month, &d.day, &used) != 3 || used != 10 ||
      !valid_date(d))
    return -1;
  int hour = 0, minute = 0, second = 0;
  const char *rest = s + used;
  if (*rest != '\0') {
    if (*rest != ' ' && *rest != 'T')
      return -1;
    rest++;
    int n = 0;
    if (sscanf(rest, "%2d:%2d%n", &hour, &minute, &n) != 2 || n != 5)
      return -1;
    rest += n;
    if (*rest == ':') {
      if (sscanf(rest, ":%2d%n", &second, &n) != 1 || n != 3)
        return -1;
      rest += n;
    }
    if (*rest != '\0' || hour > 23 || minute > 59 || second > 59 || hour < 0 || minute < 0 ||
        second < 0)
      return -1;
  }
  *ms = mc_date_to_ms(d, offset_of(ctx)) + ((int64_t)hour * 3600 + minute * 60 + second) * 1000;
  return 0;
}

int ctl_parse_name(const mc_name *table, const char *s, int *out) {
  return mc_name_parse(table, s, out);
}

void ctl_names_list(const mc_name *table, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (const mc_name *n = table; n->name != NULL; n++) {
    int w = snprintf(buf + used, cap - used, "%s%s (%s)", used ? ", " : "", n->name, n->label);
    if (w < 0 || (size_t)w >= cap - used)
      return;
    used += (size_t)w;
  }
}

const char *ctl_unit_label(const ctl_ctx *ctx, const char *id) {
  if (id == NULL || id[0] == '\0')
    return "—";
  const mc_unit *u = ctx->reg ? mc_registry_unit(ctx->reg, id) : NULL;
  return u && u->name && u->name[0] ? u->name : id;
}

const char *ctl_unit_short_label(const ctl_ctx *ctx, const char *id) {
  const char *label = ctl_unit_label(ctx, id);
  const mc_unit *u = ctx->reg && id != NULL ? mc_registry_unit(ctx->reg, id) : NULL;
  for (size_t k = 0; u != NULL && k < u->n_aliases; k++) {
    if (ctl_text_width(u->aliases[k]) < ctl_text_width(label))
      label = u->aliases[k];
  }
  return label;
}

const char *ctl_community_label(const ctl_ctx *ctx, const char *id) {
  if (id == NULL || id[0] == '\0')
    return "—";
  const mc_community *c = ctx->reg ? mc_registry_community(ctx->reg, id) : NULL;
  return c && c->name && c->name[0] ? c->name : id;
}

void ctl_actor_label(const ctl_ctx *ctx, const mv_actor *a, char *buf, size_t cap) {
  if (a == NULL) {
    snprintf(buf, cap, "—");
    return;
  }
  const char *who = a->id;
  switch (a->kind) {
  case MV_PRINCIPAL(UNIT):
    who = ctl_unit_label(ctx, a->id);
    break;
  case MV_PRINCIPAL(COORDINATOR): {
    const mc_principal *p = ctx->reg ? mc_registry_principal(ctx->reg, a->id) : NULL;
    who = p && p->name && p->name[0] ? p->name : a->id;
    break;
  }
  case MV_PRINCIPAL(SYSTEM):
    who = "系统";
    break;
  default:
    break;
  }
  if (a->person != NULL && a->person[0] != '\0')
    snprintf(buf, cap, "%s %s", who, a->person);
  else
    snprintf(buf, cap, "%s", who);
}

const char *ctl_state_label(int state) {
  return state == MV_STATE(UNSPECIFIED) ? "—" : mc_label_of(mc_state_names, state);
}
