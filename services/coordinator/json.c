/*
 * json.c - `--json`: printing a reply as JSON on stdout.
 *
 * The mapping itself (any protobuf-c message through its descriptor, the
 * conventions of docs/mediactl.md "JSON") is pbjson's, shared with the web
 * gateway so the system has one JSON shape; what is mediactl's own is the
 * layout on stdout (pretty, spaced, UTF-8 and slashes as they are) and the
 * exit code when there is nothing to print.
 */
#include <stdio.h>

#include "pbjson/pbjson.h"
#include "services/coordinator/ctl.h"

int ctl_json_print(json_object *o) {
  if (o == NULL)
    return ctl_fail(CTL_EXIT_FAILED, "out of memory");
  const char *text =
      json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                            JSON_C_TO_STRING_NOSLASHESCAPE);
  fputs(text, stdout);
  fputc('\n', stdout);
  json_object_put(o);
  return CTL_EXIT_OK;
}

int ctl_json_print_message(const ProtobufCMessage *msg) {
  return ctl_json_print(pj_from_message(msg));
}
