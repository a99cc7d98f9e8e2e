/*
 * internal.h - what the documents share besides the layout engine: how
 * registry ids, dates, money and enum values are written for people.
 */
#ifndef DOC_INTERNAL_H
#define DOC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/registry.h"
#include "mv1.h"

#define DOC_FMT_MAX 64

/* 宋大姐调解工作室, or the id itself when the registry does not know it. */
const char *doc_unit_label(const mc_registry *reg, const char *id);
const char *doc_community_label(const mc_registry *reg, const char *id);
/* "2026年3月5日"; "" for 0. */
void doc_date_cn(const mc_registry *reg, int64_t ms, char buf[DOC_FMT_MAX]);
/* "2026-03-05 10:00"; "" for 0. */
void doc_time(const mc_registry *reg, int64_t ms, char buf[DOC_FMT_MAX]);
/* "86000.00 元" */
void doc_yuan(int64_t fen, char buf[DOC_FMT_MAX]);
/* The Chinese label of an enum value, "" for unspecified. */
const char *doc_label(const mc_name *table, int value);
/* Names of the team members in role (active ones, or all if none is
 * active), joined by "、", into buf. */
void doc_team_names(const mv_case *c, Mediation__V1__TeamRole role, char *buf, size_t cap);
/* Appends printf text to buf (cap bytes), truncating. */
void doc_cat(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The result in words: 达成协议 / 调解不成 / 诉讼：判决 ...; "" if none yet. */
void doc_result(const mv_case *c, char *buf, size_t cap);

#endif /* DOC_INTERNAL_H */
