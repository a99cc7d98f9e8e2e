/*
 * cmd_desk.c - what operators read through their own unit's service (Desk):
 * the unit's inbox, the cases it holds, the steps queued offline that the
 * router refused (conflicts, and dismiss to clear one) and its roster.
 *
 * Each is a request and a table: their ops say which, and the runner (run.c)
 * does the rest. Taking a case in is cmd_intake.c, the steps cmd_step.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "services/coordinator/ctl.h"

static void money_cell(const mv_case *c, char buf[CTL_FMT_MAX]) {
  ctl_fmt_yuan(c->intake ? c->intake->money_fen : 0, buf);
}

static int render_inbox(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  (void)st;
  const Mediation__V1__DeskListReply *r = (const Mediation__V1__DeskListReply *)reply;
  if (r->n_cases == 0) {
    puts("没有待接收的案件。");
    return CTL_EXIT_OK;
  }
  static const char *const headers[] = {"案件编号", "来自", "类型", "社区", "涉及金额(元)",
                                        "移交时间", "原因"};
  ctl_table *t = ctl_table_new(7, headers, "llllrll");
  for (size_t i = 0; i < r->n_cases; i++) {
    const mv_case *c = r->cases[i]->case_record;
    if (c == NULL)
      continue;
    char money[CTL_FMT_MAX], when[CTL_FMT_MAX];
    money_cell(c, money);
    const Mediation__V1__PendingTransfer *tr = c->transfer;
    ctl_fmt_time(ctx, tr ? tr->offered_ms : 0, when);
    const char *cells[] = {c->id,
                           tr ? ctl_unit_label(ctx, tr->from_unit) : "—",
                           c->intake ? mc_label_of(mc_kind_names, c->intake->kind) : "—",
                           c->intake ? ctl_community_label(ctx, c->intake->community) : "—",
                           money,
                           when,
                           tr ? tr->reason : ""};
    ctl_table_add(t, cells);
  }
  int rc = ctl_table_print(t, stdout);
  ctl_table_free(t);
  return rc == 0 ? CTL_EXIT_OK : ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
}

static int render_cases(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  (void)st;
  const Mediation__V1__DeskListReply *r = (const Mediation__V1__DeskListReply *)reply;
  if (r->n_cases == 0) {
    puts("本单位没有符合条件的案件。");
    return CTL_EXIT_OK;
  }
  static const char *const headers[] = {"案件编号", "单位编号", "状态", "类型", "社区",
                                        "涉及金额(元)", "期限", "同步"};
  ctl_table *t = ctl_table_new(8, headers, "lllllrll");
  int64_t now = mc_now_ms();
  for (size_t i = 0; i < r->n_cases; i++) {
    const Mediation__V1__LocalCase *lc = r->cases[i];
    const mv_case *c = lc->case_record;
    if (c == NULL)
      continue;
    char money[CTL_FMT_MAX], deadline[CTL_FMT_MAX + 16], t1[CTL_FMT_MAX], sync[96], state[160];
    money_cell(c, money);
    ctl_fmt_time(ctx, c->deadline_ms, t1);
    snprintf(deadline, sizeof(deadline), "%s%s", t1,
             c->deadline_ms && now > c->deadline_ms ? " 逾期" : "");
    if (lc->stale || lc->queued_steps > 0) {
      snprintf(sync, sizeof(sync), "待转发%u步", lc->queued_steps);
    } else {
      ctl_fmt_time(ctx, lc->synced_ms, t1);
      snprintf(sync, sizeof(sync), "%s", lc->synced_ms ? t1 : "未同步");
    }
    if (c->state == MV_STATE(TRANSFER) && c->transfer)
      snprintf(state, sizeof(state), "%s → %s", ctl_state_label(c->state),
               ctl_unit_label(ctx, c->transfer->to_unit));
    else
      snprintf(state, sizeof(state), "%s", ctl_state_label(c->state));
    const char *cells[] = {c->id[0] ? c->id : "(待分配)",
                           c->intake ? c->intake->unit_ref : "",
                           state,
                           c->intake ? mc_label_of(mc_kind_names, c->intake->kind) : "—",
                           c->intake ? ctl_community_label(ctx, c->intake->community) : "—",
                           money,
                           deadline,
                           sync};
    ctl_table_add(t, cells);
  }
  int rc = ctl_table_print(t, stdout);
  ctl_table_free(t);
  return rc == 0 ? CTL_EXIT_OK : ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
}

static int render_conflicts(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  (void)st;
  const Mediation__V1__DeskConflictsReply *r = (const Mediation__V1__DeskConflictsReply *)reply;
  if (r->n_conflicts == 0) {
    puts("没有冲突。");
  } else {
    static const char *const headers[] = {"序号", "案件", "操作", "状态码", "说明", "排队时间",
                                          "被拒时间"};
    ctl_table *t = ctl_table_new(7, headers, "rllllll");
    for (size_t i = 0; i < r->n_conflicts; i++) {
      const Mediation__V1__Conflict *k = r->conflicts[i];
      char seq[32], queued[CTL_FMT_MAX], refused[CTL_FMT_MAX], what[96];
      snprintf(seq, sizeof(seq), "%llu", (unsigned long long)k->outbox_seq);
      ctl_fmt_time(ctx, k->queued_ms, queued);
      ctl_fmt_time(ctx, k->refused_ms, refused);
      int kind = k->action ? k->action->kind : 0;
      snprintf(what, sizeof(what), "%s（%s）", mc_label_of(mc_action_names, kind),
               mc_name_of(mc_action_names, kind));
      const char *cells[] = {seq,
                             k->action ? k->action->case_ref : "",
                             what,
                             mc_code_name((mc_code)k->code),
                             k->message,
                             queued,
                             refused};
      ctl_table_add(t, cells);
    }
    int rc = ctl_table_print(t, stdout);
    ctl_table_free(t);
    if (rc != 0)
      return ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
    puts("\n处理后用 `mediactl --unit UNIT dismiss 序号` 清除。");
  }
  printf("出件箱待转发：%llu 步\n", (unsigned long long)r->outbox_pending);
  return CTL_EXIT_OK;
}

static int render_roster(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  (void)ctx;
  (void)st;
  const Mediation__V1__DeskRosterReply *r = (const Mediation__V1__DeskRosterReply *)reply;
  static const char *const headers[] = {"人员", "角色", "在办案件"};
  ctl_table *t = ctl_table_new(3, headers, "llr");
  for (size_t i = 0; i < r->n_members; i++) {
    char load[32];
    snprintf(load, sizeof(load), "%u", r->members[i]->active_cases);
    const char *cells[] = {r->members[i]->person,
                           mc_label_of(mc_team_role_names, r->members[i]->role), load};
    ctl_table_add(t, cells);
  }
  int rc = ctl_table_print(t, stdout);
  ctl_table_free(t);
  return rc == 0 ? CTL_EXIT_OK : ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
}


/* ---- the requests ---- */

static int build_inbox(ctl_ctx *ctx, void *st, ctl_request *req) {
  (void)ctx;
  Mediation__V1__DeskInboxRequest *m = st;
  mediation__v1__desk_inbox_request__init(m);
  *req = (ctl_request){&mediation__v1__desk__descriptor, "Inbox", &m->base};
  return CTL_EXIT_OK;
}

typedef struct cases_state {
  const char *state; /* --state as given */
  Mediation__V1__DeskListRequest req;
} cases_state;

static const struct option cases_options[] = {
    {"state", required_argument, NULL, 's'},
    {NULL, 0, NULL, 0},
};

static void cases_init(ctl_ctx *ctx, void *st) {
  (void)ctx;
  mediation__v1__desk_list_request__init(&((cases_state *)st)->req);
}

static int cases_option(ctl_ctx *ctx, void *st, int c, const char *value) {
  if (c != 's')
    return ctl_usage_error(ctx, _("unexpected option"));
  ((cases_state *)st)->state = value;
  return CTL_EXIT_OK;
}

static int cases_check(ctl_ctx *ctx, void *st) {
  cases_state *s = st;
  int v, rc;
  if (s->state == NULL)
    return CTL_EXIT_OK;
  if ((rc = ctl_enum_option(ctx, mc_state_names, "--state", s->state, &v)) != CTL_EXIT_OK)
    return rc;
  s->req.state = v;
  return CTL_EXIT_OK;
}

/* Every page of the unit's cases as one reply, so `desk cases` still
 * lists them all (Desk/ListCases answers a page at a time since a unit's
 * 10,000 cases overflowed max_message_bytes). The pages are asked for at
 * the largest size; at most total/page_size + 1 of them, so a list that
 * grows while it is read cannot keep the loop going. */
static int cases_run(ctl_ctx *ctx, void *st) {
  cases_state *s = st;
  int rc = ctl_connect(ctx, true);
  if (rc != CTL_EXIT_OK)
    return rc;
  s->req.page_size = ctx->reg->limits.page_size_max;
  ProtobufCMessage **pages = NULL; /* ours: freed below */
  size_t n_pages = 0, n_cases = 0;
  uint64_t total = 0;
  char *cursor = NULL;
  for (;;) {
    ProtobufCMessage *reply = NULL;
    s->req.cursor = cursor != NULL ? cursor : "";
    if ((rc = ctl_call(ctx, &mediation__v1__desk__descriptor, "ListCases", &s->req.base,
                       &reply)) != CTL_EXIT_OK)
      break;
    ProtobufCMessage **grown = realloc(pages, (n_pages + 1) * sizeof(*grown));
    if (grown == NULL) {
      protobuf_c_message_free_unpacked(reply, NULL);
      rc = ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
      break;
    }
    pages = grown;
    pages[n_pages++] = reply;
    const Mediation__V1__DeskListReply *r = (const Mediation__V1__DeskListReply *)reply;
    if (n_pages == 1)
      total = r->total;
    n_cases += r->n_cases;
    if (r->next_cursor[0] == '\0' || n_pages > total / s->req.page_size + 1)
      break;
    free(cursor);
    if ((cursor = strdup(r->next_cursor)) == NULL) {
      rc = ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
      break;
    }
  }
  free(cursor);
  s->req.cursor = "";
  Mediation__V1__LocalCase **all = NULL;
  if (rc == CTL_EXIT_OK && (all = calloc(n_cases ? n_cases : 1, sizeof(*all))) == NULL)
    rc = ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
  if (rc == CTL_EXIT_OK) {
    /* One reply's shape: every page's cases (borrowed), the first page's
     * counts, no cursor. */
    Mediation__V1__DeskListReply merged = *(Mediation__V1__DeskListReply *)pages[0];
    size_t k = 0;
    for (size_t i = 0; i < n_pages; i++) {
      const Mediation__V1__DeskListReply *r = (const Mediation__V1__DeskListReply *)pages[i];
      for (size_t j = 0; j < r->n_cases; j++)
        all[k++] = r->cases[j];
    }
    merged.cases = all;
    merged.n_cases = k;
    merged.next_cursor = "";
    rc = ctx->json ? ctl_json_print_message(&merged.base) : render_cases(ctx, st, &merged.base);
  }
  free(all);
  for (size_t i = 0; i < n_pages; i++)
    protobuf_c_message_free_unpacked(pages[i], NULL);
  free(pages);
  return rc;
}

static int build_conflicts(ctl_ctx *ctx, void *st, ctl_request *req) {
  (void)ctx;
  Mediation__V1__DeskConflictsRequest *m = st;
  mediation__v1__desk_conflicts_request__init(m);
  *req = (ctl_request){&mediation__v1__desk__descriptor, "Conflicts", &m->base};
  return CTL_EXIT_OK;
}

static int dismiss_check(ctl_ctx *ctx, void *st) {
  Mediation__V1__DeskDismissRequest *m = st;
  long seq;
  if (ctl_parse_long(ctx->arg, 1, 0x7fffffffL, &seq) != 0)
    return ctl_usage_error(ctx, _("SEQ: expected the conflict's number, as `conflicts` shows it"));
  mediation__v1__desk_dismiss_request__init(m);
  m->outbox_seq = (uint64_t)seq;
  return CTL_EXIT_OK;
}

static int build_dismiss(ctl_ctx *ctx, void *st, ctl_request *req) {
  (void)ctx;
  Mediation__V1__DeskDismissRequest *m = st;
  *req = (ctl_request){&mediation__v1__desk__descriptor, "DismissConflict", &m->base};
  return CTL_EXIT_OK;
}

static int render_dismiss(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  (void)ctx;
  (void)reply;
  const Mediation__V1__DeskDismissRequest *m = st;
  printf("已清除冲突 #%ld\n", (long)m->outbox_seq);
  return CTL_EXIT_OK;
}

static int build_roster(ctl_ctx *ctx, void *st, ctl_request *req) {
  (void)ctx;
  Mediation__V1__DeskRosterRequest *m = st;
  mediation__v1__desk_roster_request__init(m);
  *req = (ctl_request){&mediation__v1__desk__descriptor, "Roster", &m->base};
  return CTL_EXIT_OK;
}

const ctl_ops ctl_inbox_ops = {
    .state_size = sizeof(Mediation__V1__DeskInboxRequest),
    .build = build_inbox,
    .render = render_inbox,
};

const ctl_ops ctl_cases_ops = {
    .state_size = sizeof(cases_state),
    .options = cases_options,
    .init = cases_init,
    .option = cases_option,
    .check = cases_check,
    .run = cases_run,
};

const ctl_ops ctl_conflicts_ops = {
    .state_size = sizeof(Mediation__V1__DeskConflictsRequest),
    .build = build_conflicts,
    .render = render_conflicts,
};

const ctl_ops ctl_dismiss_ops = {
    .state_size = sizeof(Mediation__V1__DeskDismissRequest),
    .args = N_("SEQ (the conflict's number)"),
    .check = dismiss_check,
    .build = build_dismiss,
    .render = render_dismiss,
};

const ctl_ops ctl_roster_ops = {
    .state_size = sizeof(Mediation__V1__DeskRosterRequest),
    .build = build_roster,
    .render = render_roster,
};
