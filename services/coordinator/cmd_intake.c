/*
 * cmd_intake.c - `intake`: a unit takes a new case in through its own
 * service (Desk), which may act on it at once by its policy (the police
 * studio refers family disputes to the marriage studio; --refer-to
 * overrides it). The Desk answers as it answers a step (cmd_step.c).
 *
 * The parties carry ID numbers and phones: --party-file keeps them off the
 * command line, messages never repeat them, and every copy is wiped before
 * it is freed (done, however the command ends).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "services/coordinator/ctl.h"

#define MAX_PARTY_ARGS 64
/* A party file holds a few lines; anything this large is a wrong file. */
#define MAX_PARTY_FILE_BYTES (64 * 1024)

/* The parties of an intake, in the order given: each --party, and each line
 * of a --party-file. The strings are copies (parse_party cuts them up) and
 * are wiped before they are freed: they hold ID numbers and phones. */
typedef struct {
  char *text[MAX_PARTY_ARGS];
  size_t len[MAX_PARTY_ARGS]; /* parse_party cuts text at the colons: wipe this much */
  char where[MAX_PARTY_ARGS][48]; /* "--party (number 2)", "--party-file line 3" */
  int n;
} party_list;

static void party_list_free(party_list *l) {
  for (int i = 0; i < l->n; i++) {
    explicit_bzero(l->text[i], l->len[i]); /* memset could be optimised away */
    free(l->text[i]);
  }
  l->n = 0;
}

static int party_list_add(ctl_ctx *ctx, party_list *l, const char *text, size_t len,
                          bool from_file, int where_n) {
  if (l->n == MAX_PARTY_ARGS)
    return ctl_usage_error(ctx, _("--party and --party-file: at most %d parties"), MAX_PARTY_ARGS);
  char *copy = strndup(text, len);
  if (copy == NULL)
    return ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
  l->text[l->n] = copy;
  l->len[l->n] = strlen(copy);
  snprintf(l->where[l->n], sizeof(l->where[l->n]),
           from_file ? "--party-file line %d" : "--party (number %d)", where_n);
  l->n++;
  return CTL_EXIT_OK;
}

/* --party-file FILE ('-': standard input): one party a line in the format of
 * --party; blank lines and lines starting with '#' are skipped. Personal data
 * stay off the command line (ps, /proc/PID/cmdline, shell history). Errors
 * name the file and the line, never the text. */
static int party_file_read(ctl_ctx *ctx, party_list *l, const char *path) {
  bool from_stdin = strcmp(path, "-") == 0;
  FILE *f = from_stdin ? stdin : fopen(path, "r");
  if (f == NULL)
    return ctl_fail(CTL_EXIT_USAGE, _("--party-file %s: %s"), path, strerror(errno));
  char *buf = malloc(MAX_PARTY_FILE_BYTES + 1);
  if (buf == NULL) {
    if (!from_stdin)
      fclose(f);
    return ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
  }
  size_t len = fread(buf, 1, MAX_PARTY_FILE_BYTES + 1, f);
  bool read_error = ferror(f) != 0;
  if (!from_stdin)
    fclose(f);
  int rc = CTL_EXIT_OK;
  if (read_error)
    rc = ctl_fail(CTL_EXIT_USAGE, _("--party-file %s: cannot read it"), path);
  else if (len > MAX_PARTY_FILE_BYTES)
    rc = ctl_fail(CTL_EXIT_USAGE, _("--party-file %s: larger than %d bytes"), path,
                  MAX_PARTY_FILE_BYTES);
  else if (memchr(buf, '\0', len) != NULL)
    rc = ctl_fail(CTL_EXIT_USAGE, _("--party-file %s: not a text file (it holds a NUL byte)"),
                  path);
  int line_no = 0, parties_before = l->n;
  for (size_t at = 0; rc == CTL_EXIT_OK && at < len;) {
    const char *line = buf + at;
    const char *nl = memchr(line, '\n', len - at);
    size_t n = nl ? (size_t)(nl - line) : len - at;
    at += n + (nl ? 1 : 0);
    line_no++;
    if (n > 0 && line[n - 1] == '\r')
      n--;
    size_t lead = 0;
    while (lead < n && (line[lead] == ' ' || line[lead] == '\t'))
      lead++;
    if (lead == n || line[lead] == '#')
      continue;
    rc = party_list_add(ctx, l, line, n, true, line_no);
  }
  if (rc == CTL_EXIT_OK && l->n == parties_before)
    rc = ctl_fail(CTL_EXIT_USAGE, _("--party-file %s: no party in it (one role:name[:id_number"
                  "[:phone]] a line)"), path);
  explicit_bzero(buf, len);
  free(buf);
  return rc;
}

/* "role:name[:id_number[:phone]]" into p, pointing into buf (modified).
 * Messages never repeat the text: it is personal data; where says which
 * party it was ("--party (number 2)", "--party-file line 3"). */
static int parse_party(ctl_ctx *ctx, const char *where, char *buf, mv_party *p) {
  char *parts[5] = {0};
  int n = 0;
  char *s = buf;
  while (n < 5) {
    parts[n++] = s;
    char *colon = strchr(s, ':');
    if (colon == NULL)
      break;
    *colon = '\0';
    s = colon + 1;
  }
  int role;
  if (n > 4 || n < 2 || parts[1][0] == '\0' ||
      ctl_parse_name(mc_party_role_names, parts[0], &role) != 0)
    return ctl_usage_error(ctx,
                           _("%s: expected role:name[:id_number[:phone]], role "
                           "applicant, respondent or other (申请人, 被申请人, 其他当事人)"),
                           where);
  mediation__v1__party__init(p);
  p->role = role;
  p->name = parts[1];
  p->id_number = n > 2 ? parts[2] : (char *)"";
  p->phone = n > 3 ? parts[3] : (char *)"";
  return CTL_EXIT_OK;
}

enum {
  I_KIND = 400,
  I_COMMUNITY,
  I_GRID,
  I_PARTY,
  I_MONEY,
  I_DIFFICULTY,
  I_SOURCE,
  I_SUMMARY,
  I_PETITION,
  I_NEEDS_LAWYER,
  I_WORKERS,
  I_REFER_TO,
  I_REASON,
  I_PERSON,
  I_REF,
  I_PARTY_FILE,
};

/* The command's state: the options as given, the parties read, and the
 * request built from them (borrowing argv and the party list). */
typedef struct intake_state {
  const char *kind, *community, *grid, *money, *difficulty, *source, *summary, *petition,
      *workers, *refer_to, *reason, *person, *ref;
  /* The parties, and the option each came from, in order: files are read
   * after the options are checked. */
  const char *party_args[MAX_PARTY_ARGS];
  bool party_arg_is_file[MAX_PARTY_ARGS];
  int n_party_args;
  bool needs_lawyer;
  party_list list;
  mv_party parties[MAX_PARTY_ARGS];
  mv_party *party_ptrs[MAX_PARTY_ARGS];
  mv_intake intake;
  Mediation__V1__DeskTakeInRequest req;
} intake_state;

static const struct option intake_options[] = {
    {"kind", required_argument, NULL, I_KIND},
    {"community", required_argument, NULL, I_COMMUNITY},
    {"grid", required_argument, NULL, I_GRID},
    {"party", required_argument, NULL, I_PARTY},
    {"party-file", required_argument, NULL, I_PARTY_FILE},
    {"money-yuan", required_argument, NULL, I_MONEY},
    {"difficulty", required_argument, NULL, I_DIFFICULTY},
    {"source", required_argument, NULL, I_SOURCE},
    {"summary", required_argument, NULL, I_SUMMARY},
    {"petition", required_argument, NULL, I_PETITION},
    {"needs-lawyer", no_argument, NULL, I_NEEDS_LAWYER},
    {"workers", required_argument, NULL, I_WORKERS},
    {"refer-to", required_argument, NULL, I_REFER_TO},
    {"reason", required_argument, NULL, I_REASON},
    {"person", required_argument, NULL, I_PERSON},
    {"ref", required_argument, NULL, I_REF},
    {NULL, 0, NULL, 0},
};

static void intake_init(ctl_ctx *ctx, void *st) {
  (void)ctx;
  intake_state *s = st;
  s->grid = s->summary = s->reason = s->person = s->ref = "";
}

static int intake_option(ctl_ctx *ctx, void *st, int c, const char *value) {
  intake_state *s = st;
  switch (c) {
  case I_KIND: s->kind = value; break;
  case I_COMMUNITY: s->community = value; break;
  case I_GRID: s->grid = value; break;
  case I_PARTY:
  case I_PARTY_FILE:
    if (s->n_party_args == MAX_PARTY_ARGS)
      return ctl_usage_error(ctx, _("--party and --party-file: at most %d"), MAX_PARTY_ARGS);
    s->party_arg_is_file[s->n_party_args] = c == I_PARTY_FILE;
    s->party_args[s->n_party_args++] = value;
    break;
  case I_MONEY: s->money = value; break;
  case I_DIFFICULTY: s->difficulty = value; break;
  case I_SOURCE: s->source = value; break;
  case I_SUMMARY: s->summary = value; break;
  case I_PETITION: s->petition = value; break;
  case I_NEEDS_LAWYER: s->needs_lawyer = true; break;
  case I_WORKERS: s->workers = value; break;
  case I_REFER_TO: s->refer_to = value; break;
  case I_REASON: s->reason = value; break;
  case I_PERSON: s->person = value; break;
  case I_REF: s->ref = value; break;
  default: return ctl_usage_error(ctx, _("unexpected option"));
  }
  return CTL_EXIT_OK;
}

static int intake_check(ctl_ctx *ctx, void *st) {
  const intake_state *s = st;
  if (s->kind == NULL)
    return ctl_usage_error(ctx, _("--kind is required"));
  if (s->community == NULL)
    return ctl_usage_error(ctx, _("--community is required"));
  if (s->source == NULL)
    return ctl_usage_error(ctx, _("--source is required"));
  if (s->n_party_args == 0)
    return ctl_usage_error(ctx, _("--party or --party-file is required (at least one party)"));
  int stdin_files = 0;
  for (int i = 0; i < s->n_party_args; i++)
    stdin_files += s->party_arg_is_file[i] && strcmp(s->party_args[i], "-") == 0;
  if (stdin_files > 1)
    return ctl_usage_error(ctx, _("--party-file -: standard input can be read only once"));
  return CTL_EXIT_OK;
}

/* The case's fields from the options: names to enums, money, workers. */
static int intake_fields(ctl_ctx *ctx, intake_state *s) {
  mv_intake *in = &s->intake;
  int rc, v;
  if ((rc = ctl_enum_option(ctx, mc_kind_names, "--kind", s->kind, &v)) != CTL_EXIT_OK)
    return rc;
  in->kind = v;
  in->difficulty = MV_DIFFICULTY(ORDINARY);
  if (s->difficulty != NULL) {
    if ((rc = ctl_enum_option(ctx, mc_difficulty_names, "--difficulty", s->difficulty, &v)) !=
        CTL_EXIT_OK)
      return rc;
    in->difficulty = v;
  }
  if ((rc = ctl_enum_option(ctx, mc_source_names, "--source", s->source, &v)) != CTL_EXIT_OK)
    return rc;
  in->source = v;
  if (s->petition != NULL) {
    if ((rc = ctl_enum_option(ctx, mc_petition_names, "--petition", s->petition, &v)) !=
        CTL_EXIT_OK)
      return rc;
    in->petition = v;
  }
  const mc_community *com;
  if ((rc = ctl_find_community(ctx, s->community, "--community", &com)) != CTL_EXIT_OK)
    return rc;
  in->community = com->id;
  in->grid = (char *)s->grid;
  if (s->money != NULL &&
      ctl_parse_yuan(s->money, ctx->reg->limits.max_money_fen, &in->money_fen) != 0)
    return ctl_usage_error(ctx, _("--money-yuan: expected yuan such as 86000 or 86000.50"));
  if (s->workers != NULL) {
    long w;
    if (ctl_parse_long(s->workers, 0, 1000000, &w) != 0)
      return ctl_usage_error(ctx, _("--workers: expected a whole number of workers"));
    in->workers = (uint32_t)w;
  }
  in->summary = (char *)s->summary;
  in->needs_lawyer = s->needs_lawyer;
  in->unit_ref = (char *)s->ref;
  return CTL_EXIT_OK;
}

/* Each --party and each line of each --party-file, in order, parsed. */
static int intake_parties(ctl_ctx *ctx, intake_state *s) {
  int rc = CTL_EXIT_OK, party_number = 0;
  for (int i = 0; i < s->n_party_args && rc == CTL_EXIT_OK; i++) {
    if (s->party_arg_is_file[i]) {
      rc = party_file_read(ctx, &s->list, s->party_args[i]);
    } else {
      party_number++;
      rc = party_list_add(ctx, &s->list, s->party_args[i], strlen(s->party_args[i]), false,
                          party_number);
    }
  }
  for (int i = 0; i < s->list.n && rc == CTL_EXIT_OK; i++) {
    rc = parse_party(ctx, s->list.where[i], s->list.text[i], &s->parties[i]);
    s->party_ptrs[i] = &s->parties[i];
  }
  s->intake.parties = s->party_ptrs;
  s->intake.n_parties = (size_t)s->list.n;
  return rc;
}

static int intake_build(ctl_ctx *ctx, void *st, ctl_request *req) {
  intake_state *s = st;
  int rc = ctl_load(ctx);
  if (rc != CTL_EXIT_OK)
    return rc;
  mediation__v1__intake__init(&s->intake);
  if ((rc = intake_fields(ctx, s)) != CTL_EXIT_OK)
    return rc;
  const mc_unit *refer = NULL;
  if (s->refer_to != NULL &&
      (rc = ctl_find_unit(ctx, s->refer_to, "--refer-to", &refer)) != CTL_EXIT_OK)
    return rc;
  if ((rc = intake_parties(ctx, s)) != CTL_EXIT_OK)
    return rc;
  mediation__v1__desk_take_in_request__init(&s->req);
  s->req.intake = &s->intake;
  s->req.person = (char *)s->person;
  s->req.refer_to = (char *)(refer ? refer->id : "");
  s->req.refer_reason = (char *)s->reason;
  *req = (ctl_request){&mediation__v1__desk__descriptor, "TakeIn", &s->req.base};
  return CTL_EXIT_OK;
}

static void intake_done(void *st) { party_list_free(&((intake_state *)st)->list); }

const ctl_ops ctl_intake_ops = {
    .state_size = sizeof(intake_state),
    .options = intake_options,
    .init = intake_init,
    .option = intake_option,
    .check = intake_check,
    .build = intake_build,
    .render = ctl_render_desk_reply,
    .verdict = ctl_desk_reply_exit,
    .done = intake_done,
};
