/*
 * status.h - status codes and error messages, one list for the whole project.
 *
 * Every function that can fail returns an mc_code and, when given an mc_err,
 * writes there a message that tells a person what was wrong and what to fix
 * ("intake.parties[0].phone: not valid UTF-8"). The codes are gRPC's
 * canonical set with gRPC's numbers, identical to mediation.v1.StatusCode on
 * the wire, so a refusal travels from the state machine to mediactl's screen
 * without being translated. The list is an X-macro (after libuv's
 * UV_ERRNO_MAP): names, numbers and default texts cannot drift apart.
 */
#ifndef MC_STATUS_H
#define MC_STATUS_H

#include <stddef.h>

#define MC_CODE_MAP(X)                                                        \
  X(OK, 0, "ok")                                                              \
  X(CANCELLED, 1, "cancelled")                                                \
  X(UNKNOWN, 2, "unknown error")                                              \
  X(INVALID_ARGUMENT, 3, "invalid argument")                                  \
  X(DEADLINE_EXCEEDED, 4, "deadline exceeded")                                \
  X(NOT_FOUND, 5, "not found")                                                \
  X(ALREADY_EXISTS, 6, "already exists")                                      \
  X(PERMISSION_DENIED, 7, "permission denied")                                \
  X(RESOURCE_EXHAUSTED, 8, "resource exhausted")                              \
  X(FAILED_PRECONDITION, 9, "failed precondition")                            \
  X(ABORTED, 10, "aborted")                                                   \
  X(OUT_OF_RANGE, 11, "out of range")                                         \
  X(UNIMPLEMENTED, 12, "unimplemented")                                       \
  X(INTERNAL, 13, "internal error")                                           \
  X(UNAVAILABLE, 14, "unavailable")                                           \
  X(DATA_LOSS, 15, "data loss")                                               \
  X(UNAUTHENTICATED, 16, "unauthenticated")

typedef enum mc_code {
#define MC_CODE_ENUM(name, num, text) MC_##name = num,
  MC_CODE_MAP(MC_CODE_ENUM)
#undef MC_CODE_ENUM
} mc_code;

#define MC_CODE_COUNT 17

/* An error: a code and a message for people. Messages never contain personal
 * data (names, ID numbers, phones, case text): case ids and field names only. */
typedef struct mc_err {
  mc_code code;
  char msg[512]; /* room for a Chinese message: 3 bytes a character in UTF-8 */
} mc_err;

/* "FAILED_PRECONDITION" for MC_FAILED_PRECONDITION; "?" for a number outside
 * the list. The string is static. */
const char *mc_code_name(mc_code code);

/* The default text for a code ("failed precondition"). Static. */
const char *mc_code_text(mc_code code);

/* Sets err (if not NULL) to code and a printf-formatted message; returns
 * code, so a failing path can `return mc_err_set(err, MC_..., "...")`. */
mc_code mc_err_set(mc_err *err, mc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes err's message with "prefix: " (e.g. a field path). Returns the
 * code unchanged. */
mc_code mc_err_prefix(mc_err *err, const char *prefix);

/* Clears err to MC_OK with an empty message. */
void mc_err_clear(mc_err *err);

#endif /* MC_STATUS_H */
