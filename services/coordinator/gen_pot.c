/*
 * gen_pot.c - mediation-gen-pot: prints the texts of mediactl's command
 * table (summaries, usages, why a command needs --unit) and the status
 * codes' texts as a gettext template, for po/mediation.pot beside what
 * xgettext finds.
 *
 * Why a program and not marks in commands.c: the usages are built from
 * macros (CASE_ARG, PERSON_OPT...) that xgettext cannot expand, and the
 * table is the one place other work adds commands to; read at run time, every
 * command - a new one too - is in the template, and the test
 * i18n_po_complete fails until its texts are translated. cli.c translates
 * them where it prints them (_()). Built, never installed.
 */
#include <stdio.h>
#include <string.h>

#include "services/coordinator/ctl.h"

/* One text as a PO string: split after each newline, escaped. */
static void put_string(FILE *out, const char *s) {
  bool multi = strchr(s, '\n') != NULL && strchr(s, '\n')[1] != '\0';
  if (multi)
    fputs("\"\"\n", out);
  fputc('"', out);
  for (const char *p = s; *p; p++) {
    switch (*p) {
    case '"': fputs("\\\"", out); break;
    case '\\': fputs("\\\\", out); break;
    case '\t': fputs("\\t", out); break;
    case '\n':
      fputs("\\n", out);
      if (p[1] != '\0')
        fputs("\"\n\"", out);
      break;
    default: fputc(*p, out);
    }
  }
  fputs("\"\n", out);
}

/* A template holds each text once: commands share arguments and codes. */
static const char *seen[1024];
static size_t n_seen;

static bool already_put(const char *text) {
  for (size_t i = 0; i < n_seen; i++) {
    if (strcmp(seen[i], text) == 0)
      return true;
  }
  if (n_seen < sizeof(seen) / sizeof(seen[0]))
    seen[n_seen++] = text;
  return false;
}

static void put_entry(FILE *out, const char *command, const char *field, const char *text) {
  if (text == NULL || text[0] == '\0' || already_put(text))
    return;
  fprintf(out, "\n#. %s: %s\n", command, field);
  /* Not printf formats: cli.c prints them with fputs and "%s". */
  if (strchr(text, '%') != NULL)
    fputs("#, no-c-format\n", out);
  fputs("msgid ", out);
  put_string(out, text);
  fputs("msgstr \"\"\n", out);
}

int main(void) {
  FILE *out = stdout;
  fputs("msgid \"\"\nmsgstr \"\"\n"
        "\"Content-Type: text/plain; charset=UTF-8\\n\"\n"
        "\"Content-Transfer-Encoding: 8bit\\n\"\n",
        out);
  /* The status codes' texts (core/status.h's X-macro), which mediactl
   * prints when a refusal carries no message. */
  for (int code = 0; code < MC_CODE_COUNT; code++)
    put_entry(out, mc_code_name((mc_code)code), "status text", mc_code_text((mc_code)code));
  for (const ctl_command *c = ctl_commands; c->name != NULL; c++) {
    put_entry(out, c->name, "summary", c->summary);
    put_entry(out, c->name, "why --unit", c->unit_why);
    put_entry(out, c->name, "usage", c->usage);
    /* Its argument, as "expected <args>" names it (run.c translates it). */
    if (c->ops != NULL)
      put_entry(out, c->name, "argument", c->ops->args);
  }
  return ferror(out) ? 1 : 0;
}
