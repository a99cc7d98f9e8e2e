/*
 * cmd_documents.c - `mediactl document agreement|case-file|ledger|report`
 * and `mediactl verify-print`: the paper a mediation produces, and the
 * check that a printed case file is the record.
 *
 * The data is read as the caller, exactly as `show` and `list` read it
 * (GetCase from the router, or ShowCase from --unit's Desk), and handed to
 * documents/ to render: a document shows what its reader may see, masked
 * by the router, nothing more. The agreement carries full particulars, so
 * only a reader who got the case unmasked (its holding unit) gets one.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/i18n.h"
#include "documents/documents.h"
#include "services/coordinator/ctl.h"

typedef struct doc_state {
  const char *output, *person, *from, *to, *holder, *community, *year;
  bool draft;
} doc_state;

enum { D_OUTPUT = 'o', D_DRAFT = 400, D_PERSON, D_FROM, D_TO, D_HOLDER, D_COMMUNITY, D_YEAR };

static const struct option doc_options[] = {
    {"output", required_argument, NULL, D_OUTPUT},
    {"draft", no_argument, NULL, D_DRAFT},
    {"person", required_argument, NULL, D_PERSON},
    {"from", required_argument, NULL, D_FROM},
    {"to", required_argument, NULL, D_TO},
    {"holder", required_argument, NULL, D_HOLDER},
    {"community", required_argument, NULL, D_COMMUNITY},
    {"year", required_argument, NULL, D_YEAR},
    {NULL, 0, NULL, 0},
};

static int doc_option(ctl_ctx *ctx, void *st, int c, const char *value) {
  doc_state *s = st;
  switch (c) {
  case D_OUTPUT: s->output = value; break;
  case D_DRAFT: s->draft = true; break;
  case D_PERSON: s->person = value; break;
  case D_FROM: s->from = value; break;
  case D_TO: s->to = value; break;
  case D_HOLDER: s->holder = value; break;
  case D_COMMUNITY: s->community = value; break;
  case D_YEAR: s->year = value; break;
  default: return ctl_usage_error(ctx, _("unexpected option"));
  }
  return CTL_EXIT_OK;
}

typedef enum doc_kind { DK_AGREEMENT, DK_CASE_FILE, DK_LEDGER, DK_REPORT } doc_kind;

static int kind_of(const char *s) {
  if (strcmp(s, "agreement") == 0)
    return DK_AGREEMENT;
  if (strcmp(s, "case-file") == 0)
    return DK_CASE_FILE;
  if (strcmp(s, "ledger") == 0)
    return DK_LEDGER;
  if (strcmp(s, "report") == 0)
    return DK_REPORT;
  return -1;
}

static int doc_check(ctl_ctx *ctx, void *st) {
  const doc_state *s = st;
  int k = kind_of(ctx->args[0]);
  if (k < 0)
    return ctl_usage_error(ctx, _("expected agreement, case-file, ledger or report, got \"%s\""),
                           ctx->args[0]);
  bool per_case = k == DK_AGREEMENT || k == DK_CASE_FILE;
  if (per_case && ctx->n_args != 2)
    return ctl_usage_error(ctx, _("%s needs CASE"), ctx->args[0]);
  if (!per_case && ctx->n_args != 1)
    return ctl_usage_error(ctx, _("%s takes no CASE"), ctx->args[0]);
  if (s->output == NULL || s->output[0] == '\0')
    return ctl_usage_error(ctx, _("-o FILE is required"));
  if (s->draft && k != DK_AGREEMENT)
    return ctl_usage_error(ctx, _("--draft is for the agreement"));
  if (!per_case && ctx->unit_arg != NULL)
    return ctl_usage_error(ctx, _("the %s is read from the router: narrow it with --holder or "
                                "--community, not --unit"),
                           ctx->args[0]);
  if (k != DK_LEDGER && (s->from || s->to || s->holder || s->community))
    return ctl_usage_error(ctx, _("--from, --to, --holder and --community are for the ledger"));
  if (k != DK_REPORT && s->year != NULL)
    return ctl_usage_error(ctx, _("--year is for the report"));
  return CTL_EXIT_OK;
}

/* One case as the caller may see it: GetCase from the router, ShowCase from
 * --unit's Desk. *reply is the caller's; *c and *events point into it;
 * *masked: the reader was not given the personal data. */
static int read_case(ctl_ctx *ctx, const char *ref, const char *person, bool timeline,
                     ProtobufCMessage **reply, mv_case **c, mv_event ***events, size_t *n,
                     bool *masked) {
  int rc = ctl_connect(ctx, ctl_wants_desk(ctx));
  if (rc != CTL_EXIT_OK)
    return rc;
  if (ctx->desk) {
    Mediation__V1__DeskShowRequest req = MEDIATION__V1__DESK_SHOW_REQUEST__INIT;
    req.case_ref = (char *)ref;
    req.with_timeline = timeline;
    req.person = (char *)(person ? person : "");
    if ((rc = ctl_call(ctx, &mediation__v1__desk__descriptor, "ShowCase", &req.base, reply)) !=
        CTL_EXIT_OK)
      return rc;
    Mediation__V1__DeskShowReply *r = (Mediation__V1__DeskShowReply *)*reply;
    *c = r->case_record;
    *events = r->events;
    *n = r->n_events;
    /* A Desk's copy is masked unless its unit holds the case (as GetCase). */
    *masked = *c == NULL || ctx->unit == NULL || strcmp(ctx->unit->id, (*c)->holder) != 0;
  } else {
    Mediation__V1__GetCaseRequest req = MEDIATION__V1__GET_CASE_REQUEST__INIT;
    req.case_ref = (char *)ref;
    req.with_timeline = timeline;
    req.person = (char *)(person ? person : "");
    if ((rc = ctl_call(ctx, &mediation__v1__router__descriptor, "GetCase", &req.base, reply)) !=
        CTL_EXIT_OK)
      return rc;
    Mediation__V1__GetCaseReply *r = (Mediation__V1__GetCaseReply *)*reply;
    *c = r->case_record;
    *events = r->events;
    *n = r->n_events;
    *masked = r->masked;
  }
  if (*c == NULL) {
    protobuf_c_message_free_unpacked(*reply, NULL);
    *reply = NULL;
    return ctl_fail(CTL_EXIT_FAILED, _("the reply carries no case"));
  }
  return CTL_EXIT_OK;
}

static int per_case(ctl_ctx *ctx, doc_state *s, doc_kind k) {
  ProtobufCMessage *reply = NULL;
  mv_case *c;
  mv_event **events;
  size_t n;
  bool masked;
  int rc = read_case(ctx, ctx->args[1], s->person, k == DK_CASE_FILE, &reply, &c, &events, &n,
                     &masked);
  if (rc != CTL_EXIT_OK)
    return rc;
  mc_err err;
  mc_code code;
  if (k == DK_AGREEMENT) {
    code = doc_agreement(ctx->reg, c, masked, s->draft, s->output, &err);
  } else {
    char reader[256];
    const char *who = ctx->unit != NULL ? ctx->unit->name
                                        : (ctx->as != NULL ? ctx->as : CTL_DEFAULT_COORDINATOR);
    snprintf(reader, sizeof(reader), "%s%s%s", who, s->person ? " " : "",
             s->person ? s->person : "");
    code = doc_case_file(ctx->reg, c, events, n, reader, s->output, &err);
  }
  protobuf_c_message_free_unpacked(reply, NULL);
  if (code != MC_OK)
    return ctl_status_fail(code, err.msg);
  printf("%s\n", s->output);
  return CTL_EXIT_OK;
}

/* The ledger: ListCases over the period (pages), then GetCase for each, so
 * every row is what GetCase gives this reader. */
static int ledger(ctl_ctx *ctx, doc_state *s) {
  Mediation__V1__ListCasesRequest req = MEDIATION__V1__LIST_CASES_REQUEST__INIT;
  mc_date d;
  int rc;
  if (s->from != NULL) {
    if (ctl_parse_date(ctx, s->from, &d) != 0)
      return ctl_usage_error(ctx, _("--from: expected a date, YYYY-MM-DD"));
    req.created_from_ms = mc_date_to_ms(d, ctx->reg->utc_offset_minutes);
  }
  if (s->to != NULL) {
    if (ctl_parse_date(ctx, s->to, &d) != 0)
      return ctl_usage_error(ctx, _("--to: expected a date, YYYY-MM-DD"));
    req.created_to_ms = mc_date_to_ms(d, ctx->reg->utc_offset_minutes) + 86400000;
  }
  const mc_unit *u = NULL;
  const mc_community *com = NULL;
  if (s->holder != NULL && (rc = ctl_find_unit(ctx, s->holder, "--holder", &u)) != CTL_EXIT_OK)
    return rc;
  if (s->community != NULL &&
      (rc = ctl_find_community(ctx, s->community, "--community", &com)) != CTL_EXIT_OK)
    return rc;
  req.holder = (char *)(u ? u->id : "");
  req.community = (char *)(com ? com->id : "");
  if ((rc = ctl_connect(ctx, false)) != CTL_EXIT_OK)
    return rc;
  ProtobufCMessage **replies = NULL;
  mv_case **cases = NULL;
  size_t n = 0, cap = 0;
  char cursor[512] = "";
  do {
    req.cursor = cursor;
    ProtobufCMessage *page = NULL;
    if ((rc = ctl_call(ctx, &mediation__v1__router__descriptor, "ListCases", &req.base, &page)) !=
        CTL_EXIT_OK)
      break;
    const Mediation__V1__ListCasesReply *lr = (const Mediation__V1__ListCasesReply *)page;
    for (size_t i = 0; i < lr->n_cases && rc == CTL_EXIT_OK; i++) {
      if (n == cap) {
        size_t ncap = cap ? 2 * cap : 64;
        ProtobufCMessage **r2 = realloc(replies, ncap * sizeof(*r2));
        if (r2 != NULL)
          replies = r2;
        mv_case **c2 = realloc(cases, ncap * sizeof(*c2));
        if (c2 != NULL)
          cases = c2;
        if (r2 == NULL || c2 == NULL) {
          rc = ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
          break;
        }
        cap = ncap;
      }
      mv_event **ev;
      size_t ne;
      bool masked;
      rc = read_case(ctx, lr->cases[i]->id, s->person, false, &replies[n], &cases[n], &ev, &ne,
                     &masked);
      if (rc == CTL_EXIT_OK)
        n++;
    }
    snprintf(cursor, sizeof(cursor), "%s", lr->next_cursor);
    protobuf_c_message_free_unpacked(page, NULL);
  } while (rc == CTL_EXIT_OK && cursor[0] != '\0');
  if (rc == CTL_EXIT_OK) {
    char title[512];
    snprintf(title, sizeof(title), "%s%s矛盾纠纷排查化解台账（%s 至 %s）",
             ctx->reg->subdistrict ? ctx->reg->subdistrict : "",
             u ? u->name : (com ? com->name : ""), s->from ? s->from : "开始",
             s->to ? s->to : "今");
    mc_err err;
    if (doc_ledger(ctx->reg, cases, n, title, s->output, &err) != MC_OK)
      rc = ctl_status_fail(err.code, err.msg);
    else
      printf("%s\n%zu cases\n", s->output, n);
  }
  for (size_t i = 0; i < n; i++)
    protobuf_c_message_free_unpacked(replies[i], NULL);
  free(replies);
  free(cases);
  return rc;
}

static int doc_run(ctl_ctx *ctx, void *st) {
  doc_state *s = st;
  int rc = ctl_load(ctx);
  if (rc != CTL_EXIT_OK)
    return rc;
  doc_kind k = (doc_kind)kind_of(ctx->args[0]);
  switch (k) {
  case DK_AGREEMENT:
  case DK_CASE_FILE:
    return per_case(ctx, s, k);
  case DK_LEDGER:
    return ledger(ctx, s);
  case DK_REPORT:
    if ((rc = ctl_report_pdf(ctx, s->year, s->output)) == CTL_EXIT_OK)
      printf("%s\n", s->output);
    return rc;
  }
  return CTL_EXIT_USAGE;
}

const ctl_ops ctl_document_ops = {
    .state_size = sizeof(doc_state),
    .options = doc_options,
    .args = "KIND [CASE] (agreement CASE, case-file CASE, ledger, report)",
    .max_args = 2,
    .option = doc_option,
    .check = doc_check,
    .run = doc_run,
};

/* ---- verify-print ---- */

/* A printed case file's token against the store: the head it shows is the
 * case file's head now (0), an earlier head (the file moved on since it was
 * printed: 1, saying at which step), or no head of the case (1). */
static int verify_print_run(ctl_ctx *ctx, void *st) {
  (void)st;
  int rc = ctl_load(ctx);
  if (rc != CTL_EXIT_OK)
    return rc;
  const char *hash = ctx->args[1];
  size_t hl = strlen(hash);
  if (hl != 64 || strspn(hash, "0123456789abcdefABCDEF") != hl)
    return ctl_usage_error(ctx, _("HASH: expected the 64 hex digits printed on the case file"));
  ProtobufCMessage *reply = NULL;
  mv_case *c;
  mv_event **events;
  size_t n;
  bool masked;
  if ((rc = read_case(ctx, ctx->args[0], NULL, true, &reply, &c, &events, &n, &masked)) !=
      CTL_EXIT_OK)
    return rc;
  char head[160];
  doc_hex(c->last_event_hash.data, c->last_event_hash.len, head, sizeof(head));
  if (strcasecmp(head, hash) == 0) {
    printf("一致：%s 的打印件与存档一致（案卷 %u 步，哈希链头 %s）\n", c->id, c->event_count, head);
    rc = CTL_EXIT_OK;
  } else {
    /* The hash of event k is what event k+1 chains to (prev_hash). */
    uint32_t at = 0;
    for (size_t i = 0; i < n; i++) {
      char prev[160];
      doc_hex(events[i]->prev_hash.data, events[i]->prev_hash.len, prev, sizeof(prev));
      if (prev[0] && strcasecmp(prev, hash) == 0)
        at = events[i]->seq - 1;
    }
    if (at > 0)
      printf("不一致：%s 的打印件是第 %u 步时的案卷，存档现有 %u 步（哈希链头 %s）\n", c->id, at,
             c->event_count, head);
    else
      printf("不一致：%s 的存档中没有这个哈希值；存档的哈希链头是 %s\n", c->id, head);
    rc = CTL_EXIT_FAILED;
  }
  protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

static int verify_print_check(ctl_ctx *ctx, void *st) {
  (void)st;
  if (ctx->n_args != 2)
    return ctl_usage_error(ctx, _("expected CASE HASH"));
  return CTL_EXIT_OK;
}

const ctl_ops ctl_verify_print_ops = {
    .args = "CASE HASH",
    .max_args = 2,
    .check = verify_print_check,
    .run = verify_print_run,
};
