/*
 * status.c - names and texts of the status codes (see status.h).
 */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mv1.h"

/* The wire enum and ours must agree number for number. */
#define MC_CODE_CHECK(name, num, text)                                        \
  _Static_assert((int)MC_##name == (int)MV_STATUS(name), #name " differs from the wire");
MC_CODE_MAP(MC_CODE_CHECK)
#undef MC_CODE_CHECK

static const char *const code_names[MC_CODE_COUNT] = {
#define MC_CODE_NAME(name, num, text) [num] = #name,
  MC_CODE_MAP(MC_CODE_NAME)
#undef MC_CODE_NAME
};

static const char *const code_texts[MC_CODE_COUNT] = {
#define MC_CODE_TEXT(name, num, text) [num] = text,
  MC_CODE_MAP(MC_CODE_TEXT)
#undef MC_CODE_TEXT
};

const char *mc_code_name(mc_code code) {
  if ((unsigned)code >= MC_CODE_COUNT)
    return "?";
  return code_names[code];
}

const char *mc_code_text(mc_code code) {
  if ((unsigned)code >= MC_CODE_COUNT)
    return "?";
  return code_texts[code];
}

mc_code mc_err_set(mc_err *err, mc_code code, const char *fmt, ...) {
  if (err != NULL) {
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
  }
  return code;
}

mc_code mc_err_prefix(mc_err *err, const char *prefix) {
  if (err == NULL)
    return MC_OK;
  /* Built in a second buffer: the message may be cut at the end, never the
   * prefix. */
  char buf[sizeof(err->msg)];
  int n = snprintf(buf, sizeof(buf), "%s: ", prefix);
  size_t used = n < 0 ? 0 : (size_t)n >= sizeof(buf) ? sizeof(buf) - 1 : (size_t)n;
  size_t keep = strnlen(err->msg, sizeof(buf) - 1 - used);
  memcpy(buf + used, err->msg, keep);
  buf[used + keep] = '\0';
  memcpy(err->msg, buf, used + keep + 1);
  return err->code;
}

void mc_err_clear(mc_err *err) {
  if (err != NULL) {
    err->code = MC_OK;
    err->msg[0] = '\0';
  }
}
