/*
 * test_documents.c - the documents of issue 18 for the four reference
 * scenarios (the shared DOMAIN.md), made by `mediactl document` against a
 * real router and checked as a reader would check them: pdftotext finds
 * every required field and no ID number the reader may not see; pdffonts
 * shows every font embedded; pdftoppm renders the pages (the first page of
 * each is kept in artifacts/); the case file's QR code decodes with zbarimg
 * to the case id and hash, which verify-print accepts, and a changed hash
 * it refuses; the ledger opens in openpyxl with real dates and numbers.
 *
 * Through the web gateway too: the same documents as downloads, and its
 * document workers (web/workers.c) under a burst beyond their queue (503
 * with Retry-After, the rest whole, no thread per download) and a SIGTERM
 * with downloads in flight (a clean exit).
 *
 * The cases are made by signing as the units directly (as test_mediactl
 * does): documents read what the router holds, the unit daemons are not
 * needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "mctl.h"
#include "mv1.h"
#include "world.h"

static tw_world world;
static const char *conf;
static char dir[512];

/* A valid GB 11643 number (check digit 2) and a mobile, so masking shows. */
#define ID_NUMBER "330212199001011232"
#define ID_MASKED "3302************32"
#define PHONE "13800001234"

static char ids[4][32];
static int web_port, unit_web_port; /* the coordinators' and station-kongque's gateways */
static char web_dir[256];

/* ---- making the cases as the units ---- */

static void apply(const char *unit, mv_action *a, char id_out[32]) {
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = a;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  rpc_client *c = tw_client(&world, unit, NULL);
  assert_non_null(c);
  mc_code rc = rpc_client_call(c, &mediation__v1__router__descriptor, "Apply", &req.base, NULL,
                               &reply, &err);
  if (rc != MC_OK)
    fail_msg("Apply %d as %s: %s: %s", a->kind, unit, mc_code_name(rc), err.msg);
  if (id_out != NULL)
    snprintf(id_out, 32, "%s", ((Mediation__V1__ApplyReply *)reply)->case_record->id);
  protobuf_c_message_free_unpacked(reply, NULL);
}

static void take_in(const char *unit, mv_kind kind, const char *community,
                    Mediation__V1__Source source, int64_t money_fen, size_t n_parties,
                    const char *summary, char id[32]) {
  static const char *const names[3] = {"林某甲", "林某乙", "林某丙"};
  mv_party p[3] = {MEDIATION__V1__PARTY__INIT, MEDIATION__V1__PARTY__INIT,
                   MEDIATION__V1__PARTY__INIT};
  mv_party *pp[3] = {&p[0], &p[1], &p[2]};
  for (size_t i = 0; i < n_parties; i++) {
    p[i].name = (char *)names[i];
    p[i].role = i == 0 ? MV_PARTY(APPLICANT) : (i == 1 ? MV_PARTY(RESPONDENT) : MV_PARTY(OTHER));
  }
  p[0].id_number = ID_NUMBER;
  p[0].phone = PHONE;
  mv_intake in = MEDIATION__V1__INTAKE__INIT;
  in.kind = kind;
  in.community = (char *)community;
  in.difficulty = MV_DIFFICULTY(ORDINARY);
  in.source = source;
  in.money_fen = money_fen;
  in.parties = pp;
  in.n_parties = n_parties;
  in.summary = (char *)summary;
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(TAKE_IN);
  a.args_case = MV_ARGS(INTAKE);
  a.intake = &in;
  a.person = "值班员";
  apply(unit, &a, id);
}

static void step(const char *unit, const char *id, mv_action_kind kind, const char *reason,
                 const char *to_unit) {
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = kind;
  a.case_ref = (char *)id;
  a.reason = (char *)(reason ? reason : "");
  a.person = "经办人";
  if (to_unit != NULL) {
    a.args_case = MV_ARGS(TO_UNIT);
    a.to_unit = (char *)to_unit;
  }
  apply(unit, &a, NULL);
}

static void assign(const char *unit, const char *id, Mediation__V1__TeamRole role,
                   const char *person) {
  mv_member m = MEDIATION__V1__TEAM_MEMBER__INIT;
  m.role = role;
  m.person = (char *)person;
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(ASSIGN);
  a.case_ref = (char *)id;
  a.args_case = MV_ARGS(MEMBER);
  a.member = &m;
  apply(unit, &a, NULL);
}

static void session(const char *unit, const char *id, const char *note) {
  Mediation__V1__Session s = MEDIATION__V1__SESSION__INIT;
  s.held_ms = mc_now_ms();
  s.note = (char *)note;
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(RECORD_SESSION);
  a.case_ref = (char *)id;
  a.args_case = MV_ARGS(SESSION);
  a.session = &s;
  apply(unit, &a, NULL);
}

static void agreement(const char *unit, const char *id, int64_t amount_fen, const char *terms) {
  Mediation__V1__Outcome o = MEDIATION__V1__OUTCOME__INIT;
  o.kind = MV_OUTCOME(AGREEMENT);
  o.agreed_amount_fen = amount_fen;
  o.summary = "双方达成协议";
  o.terms = (char *)terms;
  o.performance_method = "银行转账";
  o.performance_due_ms = mc_now_ms() + 30LL * 86400000;
  o.agreement_no = "（1999）假调字第99号"; /* the router's number replaces it */
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(RECORD_OUTCOME);
  a.case_ref = (char *)id;
  a.args_case = MV_ARGS(OUTCOME);
  a.outcome = &o;
  apply(unit, &a, NULL);
}

static void no_agreement(const char *unit, const char *id) {
  Mediation__V1__Outcome o = MEDIATION__V1__OUTCOME__INIT;
  o.kind = MV_OUTCOME(NO_AGREEMENT);
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(RECORD_OUTCOME);
  a.case_ref = (char *)id;
  a.args_case = MV_ARGS(OUTCOME);
  a.outcome = &o;
  apply(unit, &a, NULL);
}

static void court(const char *unit, const char *id) {
  Mediation__V1__CourtResult r = MEDIATION__V1__COURT_RESULT__INIT;
  r.kind = MV_COURT(JUDGMENT);
  r.amount_fen = 8600000;
  r.summary = "法院判决按份继承";
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(RECORD_COURT_RESULT);
  a.case_ref = (char *)id;
  a.args_case = MV_ARGS(COURT_RESULT);
  a.court_result = &r;
  apply(unit, &a, NULL);
}

static void feedback(const char *unit, const char *id, Mediation__V1__Satisfaction s) {
  Mediation__V1__Feedback f = MEDIATION__V1__FEEDBACK__INIT;
  f.satisfaction = s;
  f.visited_ms = mc_now_ms();
  f.note = "电话回访，协议已履行";
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(RECORD_FEEDBACK);
  a.case_ref = (char *)id;
  a.args_case = MV_ARGS(FEEDBACK);
  a.feedback = &f;
  apply(unit, &a, NULL);
}

/* ---- running the reader's tools ---- */

/* Runs a shell command; its stdout into *out (malloc'd, may be NULL to
 * discard). Returns its exit status. */
static int sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(char **out, const char *fmt, ...) {
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof(cmd), fmt, ap);
  va_end(ap);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  assert_non_null(buf);
  size_t got;
  while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
    n += got;
    if (cap - n < 1024) {
      cap *= 2;
      buf = realloc(buf, cap);
      assert_non_null(buf);
    }
  }
  buf[n] = '\0';
  int st = pclose(p);
  if (out != NULL)
    *out = buf;
  else
    free(buf);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* pdftotext of a PDF (layout off: the text in reading order). */
static char *pdf_text(const char *pdf) {
  char *t = NULL;
  assert_int_equal(sh(&t, "pdftotext -enc UTF-8 '%s' - 2>&1", pdf), 0);
  return t;
}

static int pdf_pages(const char *pdf) {
  char *t = NULL;
  assert_int_equal(sh(&t, "pdfinfo '%s' | sed -n 's/^Pages: *//p'", pdf), 0);
  int n = atoi(t);
  free(t);
  return n;
}

/* Every font embedded (and subset: cairo names subsets XXXXXX+Name). */
static void expect_fonts_embedded(const char *pdf) {
  char *t = NULL;
  assert_int_equal(sh(&t, "pdffonts '%s'", pdf), 0);
  int fonts = 0;
  char *save = NULL;
  for (char *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (strncmp(line, "name", 4) == 0 || strncmp(line, "----", 4) == 0)
      continue;
    fonts++;
    /* columns: name type encoding emb sub uni object ID */
    char name[256], type[64], enc[64], emb[8], sub[8];
    if (sscanf(line, "%255s %63s %63s %7s %7s", name, type, enc, emb, sub) != 5)
      fail_msg("pdffonts line: %s", line);
    if (strcmp(type, "CID") == 0 || strcmp(type, "Type") == 0) /* "CID Type 0C", "Type 3" */
      sscanf(line, "%255s %*s %*s %63s %7s %7s", name, enc, emb, sub);
    if (strstr(line, " yes ") == NULL || strchr(name, '+') == NULL)
      fail_msg("%s: a font not embedded and subset: %s", pdf, line);
  }
  free(t);
  if (fonts == 0)
    fail_msg("%s: no fonts", pdf);
}

/* The first page as a PNG in artifacts/ (kept, with the PDF), and every page rendered. */
static void render_pages(const char *pdf, const char *name) {
  mkdir(ARTIFACT_DIR, 0755);
  assert_int_equal(sh(NULL, "pdftoppm -r 50 -f 1 -l 1 -singlefile -png '%s' '%s/%s'", pdf,
                      ARTIFACT_DIR, name),
                   0);
  assert_int_equal(sh(NULL, "pdftoppm -r 20 -png '%s' '%s/pages' && rm -f '%s'/pages*.png", pdf,
                      dir, dir),
                   0);
  assert_int_equal(sh(NULL, "cp '%s' '%s/%s.pdf'", pdf, ARTIFACT_DIR, name), 0);
  char png[1024];
  snprintf(png, sizeof(png), "%s/%s.png", ARTIFACT_DIR, name);
  struct stat st;
  assert_int_equal(stat(png, &st), 0);
  assert_true(st.st_size > 1000);
}

static void path_of(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", dir, name);
}

/* ---- fixtures: the four reference scenarios ---- */

/* Two ports on 127.0.0.1 the kernel says are free (bound to port 0 at once,
 * then let go), for the two gateways: a port made from the pid could be
 * another test's, running beside this one. */
static void free_ports(int *a, int *b) {
  int fd[2];
  int port[2];
  for (int i = 0; i < 2; i++) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    fd[i] = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd[i] >= 0);
    assert_int_equal(bind(fd[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd[i], (struct sockaddr *)&sa, &len), 0);
    port[i] = ntohs(sa.sin_port);
  }
  close(fd[0]);
  close(fd[1]);
  *a = port[0];
  *b = port[1];
}

static int setup(void **state) {
  (void)state;
  char extra[1024];
  free_ports(&web_port, &unit_web_port);
  snprintf(web_dir, sizeof(web_dir), "/tmp/mediation-documents-web-%d", (int)getpid());
  snprintf(extra, sizeof(extra),
           "[unit police-studio]\ndoc_abbrev = 石\n"
           /* web_workers' burst comes from one address: room for it above
            * the document workers' queue, so the queue is what refuses. */
           "[web]\nmax_conns_per_client = 80\n"
           "[web \"coordinators\"]\nlisten = http://127.0.0.1:%d\ndata_dir = %s\n"
           "[web \"station-kongque\"]\nlisten = http://127.0.0.1:%d\ndata_dir = %s-unit\n",
           web_port, web_dir, unit_web_port, web_dir);
  if (tw_make(&world, "documents", extra, false) != 0)
    return -1;
  conf = world.conf;
  snprintf(dir, sizeof(dir), "%s", world.dir.path);
  if (tw_start_router(&world, NULL) != 0)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  int rc = tw_stop_router(&world);
  tw_destroy(&world);
  sh(NULL, "rm -rf '%s' '%s-unit'", web_dir, web_dir);
  return rc == 0 ? 0 : -1;
}

static void scenarios(void **state) {
  (void)state;
  /* 1. police referral, delegated to 孔雀社区, agreement and satisfaction */
  take_in("police-studio", MV_KIND(RELATIONSHIP), "kongque", MV_SOURCE(POLICE_CALL), 0, 2,
          "110报警：夫妻因感情纠纷发生推搡", ids[0]);
  step("police-studio", ids[0], MV_ACTION(TRANSFER), "家庭纠纷，转婚调溯源调解", "marriage-studio");
  step("marriage-studio", ids[0], MV_ACTION(ACCEPT), NULL, NULL);
  assign("marriage-studio", ids[0], MV_ROLE(MEDIATOR), "周晓梅");
  assign("marriage-studio", ids[0], MV_ROLE(COUNSELLOR), "林静");
  step("marriage-studio", ids[0], MV_ACTION(TRANSFER), "由社区工作站跟进", "station-kongque");
  step("station-kongque", ids[0], MV_ACTION(ACCEPT), NULL, NULL);
  step("station-kongque", ids[0], MV_ACTION(START_MEDIATION), NULL, NULL);
  assign("station-kongque", ids[0], MV_ROLE(MEDIATOR), "李秀英");
  session("station-kongque", ids[0], "双方当面沟通，情绪平复");
  agreement("station-kongque", ids[0], 0, "双方互相谅解，男方书面保证不再动手，共同参加婚姻辅导");
  feedback("station-kongque", ids[0], MV_SATISFACTION(SATISFIED));
  step("station-kongque", ids[0], MV_ACTION(CLOSE), NULL, NULL);

  /* 2. inheritance, 86,000 元, three siblings; to the shared court */
  take_in("marriage-studio", MV_KIND(INHERITANCE), "baihe", MV_SOURCE(WALK_IN), 8600000, 3,
          "三兄妹因房产继承发生争议", ids[1]);
  step("marriage-studio", ids[1], MV_ACTION(START_MEDIATION), NULL, NULL);
  assign("marriage-studio", ids[1], MV_ROLE(MEDIATOR), "陈立新");
  session("marriage-studio", ids[1], "三方分歧较大");
  no_agreement("marriage-studio", ids[1]);
  step("marriage-studio", ids[1], MV_ACTION(SEND_TO_LITIGATION), "调解不成，引导诉讼", NULL);
  court("marriage-studio", ids[1]);
  feedback("marriage-studio", ids[1], MV_SATISFACTION(BASICALLY_SATISFIED));

  /* 3. elder support from 王隘社区, up to Sister Song, a lawyer, legal aid */
  take_in("station-wangai", MV_KIND(ELDER_SUPPORT), "wangai", MV_SOURCE(WALK_IN), 1200000, 2,
          "老人要求子女支付赡养费", ids[2]);
  step("station-wangai", ids[2], MV_ACTION(TRANSFER), "需要律师参与", "marriage-studio");
  step("marriage-studio", ids[2], MV_ACTION(ACCEPT), NULL, NULL);
  assign("marriage-studio", ids[2], MV_ROLE(LAWYER), "郑浩");
  step("marriage-studio", ids[2], MV_ACTION(GRANT_LEGAL_AID), NULL, NULL);
  step("marriage-studio", ids[2], MV_ACTION(START_MEDIATION), NULL, NULL);
  assign("marriage-studio", ids[2], MV_ROLE(MEDIATOR), "周晓梅");
  agreement("marriage-studio", ids[2], 1200000, "子女每月各支付赡养费一千元");

  /* 4. a refused transfer: noise between neighbours, on to 白鹤社区 */
  take_in("police-studio", MV_KIND(NEIGHBOUR), "baihe", MV_SOURCE(POLICE_CALL), 0, 2,
          "邻居夜间噪音纠纷", ids[3]);
  step("police-studio", ids[3], MV_ACTION(TRANSFER), "转婚调", "marriage-studio");
  step("marriage-studio", ids[3], MV_ACTION(REFUSE), "不属于婚姻家庭纠纷", NULL);
  step("police-studio", ids[3], MV_ACTION(TRANSFER), "转社区调解", "station-baihe");
  step("station-baihe", ids[3], MV_ACTION(ACCEPT), NULL, NULL);
}

/* ---- the documents ---- */

static void agreements(void **state) {
  (void)state;
  char pdf[600];
  int year = mc_date_of(mc_now_ms(), world.reg->utc_offset_minutes).year;
  char no[128];

  /* The holder produces it: full particulars, its number, signatures. */
  path_of(pdf, sizeof(pdf), "agreement-3.pdf");
  mctl_result r = MCTL(conf, "--as", "marriage-studio", "document", "agreement", ids[2], "-o", pdf);
  mctl_expect(&r, 0, "agreement by the holder");
  mctl_free(&r);
  char *t = pdf_text(pdf);
  snprintf(no, sizeof(no), "（%d）宋调字第1号", year);
  CONTAINS(t, "人民调解协议书");
  CONTAINS(t, no);
  LACKS(t, "假调字");
  CONTAINS(t, ID_NUMBER); /* the holder's document carries the particulars */
  CONTAINS(t, PHONE);
  CONTAINS(t, "林某甲");
  CONTAINS(t, "林某乙");
  CONTAINS(t, "老人要求子女支付赡养费");
  CONTAINS(t, "子女每月各支付赡养费一千元");
  CONTAINS(t, "银行转账");
  CONTAINS(t, "履行期限");
  CONTAINS(t, "12000.00 元");
  CONTAINS(t, "签名/按指印");
  CONTAINS(t, "人民调解员 周晓梅");
  CONTAINS(t, "宋大姐调解工作室（盖章）");
  CONTAINS(t, "年");
  free(t);
  expect_fonts_embedded(pdf);
  render_pages(pdf, "agreement");

  /* Scenario 1's agreement was the community station's first. */
  path_of(pdf, sizeof(pdf), "agreement-1.pdf");
  r = MCTL(conf, "--as", "station-kongque", "document", "agreement", ids[0], "-o", pdf);
  mctl_expect(&r, 0, "agreement by the station");
  mctl_free(&r);
  t = pdf_text(pdf);
  snprintf(no, sizeof(no), "（%d）孔调字第1号", year);
  CONTAINS(t, no);
  CONTAINS(t, "人民调解员 李秀英");
  free(t);

  /* Not the holder: refused (exit 5), nothing written. */
  path_of(pdf, sizeof(pdf), "agreement-denied.pdf");
  r = MCTL(conf, "document", "agreement", ids[2], "-o", pdf);
  mctl_expect(&r, 5, "agreement by a coordinator");
  CONTAINS(r.err, "PERMISSION_DENIED");
  mctl_free(&r);
  r = MCTL(conf, "--as", "station-wangai", "document", "agreement", ids[2], "-o", pdf);
  mctl_expect(&r, 5, "agreement by a former holder");
  mctl_free(&r);
  assert_int_not_equal(access(pdf, F_OK), 0);

  /* No agreement: refused, unless as a draft (草稿). */
  path_of(pdf, sizeof(pdf), "agreement-2.pdf");
  r = MCTL(conf, "--as", "marriage-studio", "document", "agreement", ids[1], "-o", pdf);
  mctl_expect(&r, 3, "agreement without one");
  CONTAINS(r.err, "FAILED_PRECONDITION");
  mctl_free(&r);
  r = MCTL(conf, "--as", "station-baihe", "document", "agreement", ids[3], "--draft", "-o", pdf);
  mctl_expect(&r, 0, "draft agreement");
  mctl_free(&r);
  t = pdf_text(pdf);
  CONTAINS(t, "草稿");
  CONTAINS(t, "编号待分配");
  CONTAINS(t, "邻居夜间噪音纠纷");
  free(t);
}

/* Agreement numbers: one sequence per holding unit and year, allocated in
 * the write that records the agreement; a retry of the same request gets
 * the same number, a refused step uses none, the next agreement the next. */
static const char *outcome_no(const char *unit, const char *id, const uint8_t *request_id,
                              mc_code *code, char *buf, size_t cap) {
  Mediation__V1__Outcome o = MEDIATION__V1__OUTCOME__INIT;
  o.kind = MV_OUTCOME(AGREEMENT);
  o.terms = "双方同意";
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(RECORD_OUTCOME);
  a.case_ref = (char *)id;
  a.args_case = MV_ARGS(OUTCOME);
  a.outcome = &o;
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = &a;
  rpc_call_opts opts = {.request_id = request_id};
  ProtobufCMessage *reply = NULL;
  mc_err err;
  *code = rpc_client_call(tw_client(&world, unit, NULL), &mediation__v1__router__descriptor,
                          "Apply", &req.base, &opts, &reply, &err);
  buf[0] = '\0';
  if (*code == MC_OK) {
    const mv_case *c = ((Mediation__V1__ApplyReply *)reply)->case_record;
    snprintf(buf, cap, "%s", c->outcome ? c->outcome->agreement_no : "");
    protobuf_c_message_free_unpacked(reply, NULL);
  }
  return buf;
}

static void agreement_numbers(void **state) {
  (void)state;
  int year = mc_date_of(mc_now_ms(), world.reg->utc_offset_minutes).year;
  char id[32], want[128], got[128];
  take_in("marriage-studio", MV_KIND(DIVORCE), "wangai", MV_SOURCE(WALK_IN), 0, 2, "离婚纠纷",
          id);
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  memset(rid, 0x5a, sizeof(rid));
  mc_code code;
  /* Not in mediation yet: refused, and no number is used up. */
  outcome_no("marriage-studio", id, rid, &code, got, sizeof(got));
  assert_int_not_equal(code, MC_OK);
  step("marriage-studio", id, MV_ACTION(START_MEDIATION), NULL, NULL);
  memset(rid, 0x5b, sizeof(rid));
  outcome_no("marriage-studio", id, rid, &code, got, sizeof(got));
  assert_int_equal(code, MC_OK);
  snprintf(want, sizeof(want), "（%d）宋调字第2号", year); /* scenario 3 had 第1号 */
  assert_string_equal(got, want);
  /* The same request again: the same answer, the same number. */
  outcome_no("marriage-studio", id, rid, &code, got, sizeof(got));
  assert_int_equal(code, MC_OK);
  assert_string_equal(got, want);
  /* [unit police-studio] doc_abbrev = 石 names the police studio's numbers. */
  char pid[32];
  take_in("police-studio", MV_KIND(OTHER), "baihe", MV_SOURCE(WALK_IN), 0, 1, "其他纠纷", pid);
  step("police-studio", pid, MV_ACTION(START_MEDIATION), NULL, NULL);
  outcome_no("police-studio", pid, NULL, &code, got, sizeof(got));
  assert_int_equal(code, MC_OK);
  snprintf(want, sizeof(want), "（%d）石调字第1号", year);
  assert_string_equal(got, want);
}

static void case_files(void **state) {
  (void)state;
  static const char *const kinds[4] = {"感情纠纷", "遗产", "赡养", "邻里纠纷"};
  for (int i = 0; i < 4; i++) {
    char pdf[600], name[64];
    snprintf(name, sizeof(name), "case-file-%d", i + 1);
    char file[80];
    snprintf(file, sizeof(file), "%s.pdf", name);
    path_of(pdf, sizeof(pdf), file);
    /* A coordinator's print: masked as GetCase masks for a coordinator. */
    mctl_result r = MCTL(conf, "document", "case-file", ids[i], "-o", pdf, "--person", "张协调");
    mctl_expect(&r, 0, "case file");
    mctl_free(&r);
    char *t = pdf_text(pdf);
    CONTAINS(t, "矛盾纠纷调解案卷");
    CONTAINS(t, "页码"); /* the contents page */
    CONTAINS(t, ids[i]);
    CONTAINS(t, kinds[i]);
    CONTAINS(t, "林某甲");
    CONTAINS(t, "二、流转与办理记录");
    CONTAINS(t, "八、案卷校验");
    CONTAINS(t, "哈希链头");
    LACKS(t, ID_NUMBER);
    LACKS(t, PHONE);
    CONTAINS(t, ID_MASKED);
    if (i == 0) {
      CONTAINS(t, "大石头调解工作室");
      CONTAINS(t, "孔雀社区工作站");
      CONTAINS(t, "满意");
      CONTAINS(t, "李秀英");
      CONTAINS(t, "经办人");
    }
    if (i == 1) {
      CONTAINS(t, "判决");
      CONTAINS(t, "基本满意");
    }
    if (i == 2)
      CONTAINS(t, "法律援助");
    if (i == 3)
      CONTAINS(t, "不属于婚姻家庭纠纷");
    free(t);
    assert_true(pdf_pages(pdf) >= 4);
    expect_fonts_embedded(pdf);
    render_pages(pdf, name);

    /* The QR on the last page: case id and head, which verify-print takes. */
    int pages = pdf_pages(pdf);
    char *qr = NULL;
    assert_int_equal(sh(&qr, "pdftoppm -r 150 -f %d -l %d -singlefile -png '%s' '%s/qr' && "
                             "zbarimg -q --raw '%s/qr.png' 2>/dev/null",
                        pages, pages, pdf, dir, dir),
                     0);
    char qid[64], qhash[128];
    assert_int_equal(sscanf(qr, "%63s %127s", qid, qhash), 2);
    free(qr);
    assert_string_equal(qid, ids[i]);
    assert_int_equal(strlen(qhash), 64);
    t = pdf_text(pdf);
    CONTAINS(t, qhash);
    free(t);
    r = MCTL(conf, "verify-print", qid, qhash);
    mctl_expect(&r, 0, "verify-print of the head");
    CONTAINS(r.out, "一致");
    mctl_free(&r);
    qhash[0] = qhash[0] == '0' ? '1' : '0';
    r = MCTL(conf, "verify-print", qid, qhash);
    mctl_expect(&r, 1, "verify-print of a changed hash");
    CONTAINS(r.out, "不一致");
    mctl_free(&r);
  }
  /* The holder's print shows what the holder sees: the ID number. */
  char pdf[600];
  path_of(pdf, sizeof(pdf), "case-file-holder.pdf");
  mctl_result r = MCTL(conf, "--as", "marriage-studio", "document", "case-file", ids[2], "-o", pdf);
  mctl_expect(&r, 0, "holder's case file");
  mctl_free(&r);
  char *t = pdf_text(pdf);
  CONTAINS(t, ID_NUMBER);
  free(t);
}

/* A print made before a step is an earlier head: verify-print says so. */
static void verify_print_older(void **state) {
  (void)state;
  char pdf[600];
  path_of(pdf, sizeof(pdf), "case-file-old.pdf");
  mctl_result r = MCTL(conf, "document", "case-file", ids[3], "-o", pdf);
  mctl_expect(&r, 0, "case file");
  mctl_free(&r);
  char *qr = NULL;
  int pages = pdf_pages(pdf);
  assert_int_equal(sh(&qr, "pdftoppm -r 150 -f %d -l %d -singlefile -png '%s' '%s/qr' && "
                           "zbarimg -q --raw '%s/qr.png' 2>/dev/null",
                      pages, pages, pdf, dir, dir),
                   0);
  char qid[64], qhash[128];
  assert_int_equal(sscanf(qr, "%63s %127s", qid, qhash), 2);
  free(qr);
  step("station-baihe", ids[3], MV_ACTION(START_MEDIATION), NULL, NULL);
  r = MCTL(conf, "verify-print", qid, qhash);
  mctl_expect(&r, 1, "verify-print of an older print");
  CONTAINS(r.out, "打印件是第");
  mctl_free(&r);
  r = MCTL(conf, "verify-print", qid, "xyz");
  mctl_expect(&r, 2, "verify-print of a malformed hash");
  mctl_free(&r);
}

static void ledger(void **state) {
  (void)state;
  char xlsx[600];
  path_of(xlsx, sizeof(xlsx), "ledger.xlsx");
  mctl_result r = MCTL(conf, "document", "ledger", "-o", xlsx);
  mctl_expect(&r, 0, "ledger");
  mctl_free(&r);
  assert_int_equal(
      sh(NULL, "/usr/bin/python3 '%s' '%s' 6 '%s' 86000", CHECK_XLSX, xlsx, ID_NUMBER), 0);
  /* One community: 白鹤社区 has scenarios 2 and 4, and agreement_numbers' police case. */
  r = MCTL(conf, "document", "ledger", "--community", "白鹤社区", "-o", xlsx);
  mctl_expect(&r, 0, "ledger of a community");
  mctl_free(&r);
  assert_int_equal(sh(NULL, "/usr/bin/python3 '%s' '%s' 3 '%s'", CHECK_XLSX, xlsx, ID_NUMBER), 0);
  r = MCTL(conf, "document", "ledger", "--from", "not-a-date", "-o", xlsx);
  mctl_expect(&r, 2, "ledger with a bad date");
  mctl_free(&r);
}

static void report(void **state) {
  (void)state;
  char pdf[600], year[16];
  snprintf(year, sizeof(year), "%d", mc_date_of(mc_now_ms(), world.reg->utc_offset_minutes).year);
  path_of(pdf, sizeof(pdf), "report.pdf");
  mctl_result r = MCTL(conf, "document", "report", "--year", year, "-o", pdf);
  mctl_expect(&r, 0, "report");
  mctl_free(&r);
  /* The same sentences as `mediactl report`. */
  r = MCTL(conf, "report", "--year", year);
  mctl_expect(&r, 0, "report text");
  char *first = mctl_line_with(r.out, "调处矛盾纠纷");
  assert_non_null(first);
  mctl_free(&r);
  char *t = pdf_text(pdf);
  /* pdftotext may wrap a long sentence: compare its start */
  char head[64];
  snprintf(head, sizeof(head), "%.30s", first);
  free(first);
  CONTAINS(t, "调处矛盾纠纷");
  CONTAINS(t, "图1");
  CONTAINS(t, "图2");
  CONTAINS(t, "图3");
  CONTAINS(t, "图4");
  CONTAINS(t, "社区考评");
  CONTAINS(t, "王隘社区");
  CONTAINS(t, "孔雀社区");
  CONTAINS(t, "合计");
  free(t);
  expect_fonts_embedded(pdf);
  render_pages(pdf, "report");
}

/* Through a unit's Desk (--unit), as its operators read: the holding
 * station's agreement and its unmasked case file. */
static void desk_documents(void **state) {
  (void)state;
  assert_int_equal(tw_start_unit(&world, "community-station", "station-kongque"), 0);
  char pdf[600];
  path_of(pdf, sizeof(pdf), "desk-agreement.pdf");
  mctl_result r = MCTL(conf, "--unit", "station-kongque", "document", "agreement", ids[0], "-o",
                       pdf);
  mctl_expect(&r, 0, "agreement through the holder's Desk");
  mctl_free(&r);
  char *t = pdf_text(pdf);
  CONTAINS(t, ID_NUMBER);
  CONTAINS(t, "孔调字第1号");
  free(t);
  path_of(pdf, sizeof(pdf), "desk-case-file.pdf");
  r = MCTL(conf, "--unit", "station-kongque", "document", "case-file", ids[0], "-o", pdf,
           "--person", "李秀英");
  mctl_expect(&r, 0, "case file through the Desk");
  mctl_free(&r);
  t = pdf_text(pdf);
  CONTAINS(t, ID_NUMBER);
  CONTAINS(t, "孔雀社区工作站 李秀英");
  free(t);
  assert_int_equal(tw_stop_unit(&world, "station-kongque"), 0);
}

/* The web gateway's download: the coordinators' site reads the case with
 * its identity (GetCase, masked) and renders it; the agreement is refused. */
static void web_download(void **state) {
  (void)state;
  char *out = NULL;
  assert_int_equal(sh(&out, "printf 'correct horse 42\\n' | %s/services/mediactl --config '%s' "
                            "user --coordinators add 张协调 --password-stdin 2>&1",
                      MEDIATION_BINARY_DIR, conf),
                   0);
  free(out);
  char pidtxt[32] = "";
  assert_int_equal(sh(&out, "%s/services/mediation-web --config '%s' --coordinator "
                            ">'%s/web.log' 2>&1 & echo $!",
                      MEDIATION_BINARY_DIR, conf, dir),
                   0);
  snprintf(pidtxt, sizeof(pidtxt), "%s", out);
  free(out);
  int pid = atoi(pidtxt);
  assert_true(pid > 0);
  char base[64], jar[600], pdf[600], hdr[600];
  snprintf(base, sizeof(base), "http://127.0.0.1:%d", web_port);
  path_of(jar, sizeof(jar), "cookies");
  path_of(pdf, sizeof(pdf), "web-case-file.pdf");
  path_of(hdr, sizeof(hdr), "web-headers");
  int up = 1;
  for (int i = 0; i < 50 && up != 0; i++) {
    up = sh(NULL, "curl -sf -o /dev/null %s/api/v1/methods", base);
    if (up != 0)
      usleep(100000);
  }
  assert_int_equal(up, 0);
  assert_int_equal(sh(NULL, "curl -sf -c '%s' -H 'Content-Type: application/json' "
                            "-d '{\"name\":\"张协调\",\"password\":\"correct horse 42\"}' "
                            "%s/api/v1/login >/dev/null",
                      jar, base),
                   0);
  assert_int_equal(sh(NULL, "curl -sf -b '%s' -D '%s' -o '%s' '%s/api/v1/documents/case-file?case=%s'",
                      jar, hdr, pdf, base, ids[1]),
                   0);
  char *h = NULL;
  assert_int_equal(sh(&h, "cat '%s'", hdr), 0);
  CONTAINS(h, "application/pdf");
  CONTAINS(h, "Content-Disposition: attachment");
  free(h);
  char *t = pdf_text(pdf);
  CONTAINS(t, ids[1]);
  CONTAINS(t, "张协调"); /* printed for the logged-in person */
  CONTAINS(t, "宋大姐调解工作室"); /* the registry's names, not ids */
  CONTAINS(t, ID_MASKED);
  LACKS(t, ID_NUMBER);
  free(t);
  /* The agreement is the holder's: 403 here. Without a session: 401. */
  assert_int_equal(sh(&h, "curl -s -o /dev/null -w '%%{http_code}' -b '%s' "
                          "'%s/api/v1/documents/agreement?case=%s'",
                      jar, base, ids[2]),
                   0);
  assert_string_equal(h, "403");
  free(h);
  assert_int_equal(sh(&h, "curl -s -o /dev/null -w '%%{http_code}' "
                          "'%s/api/v1/documents/case-file?case=%s'",
                      base, ids[1]),
                   0);
  assert_string_equal(h, "401");
  free(h);
  assert_int_equal(sh(&h, "curl -s -o /dev/null -w '%%{http_code}' -b '%s' "
                          "'%s/api/v1/documents/case-file?case=a%%20b'",
                      jar, base),
                   0);
  assert_string_equal(h, "400");
  free(h);
  /* The ledger (台账) as the coordinator reads it: the same rows as
   * `mediactl document ledger`, masked, with a UTF-8 file name too. */
  char xlsx[600];
  path_of(xlsx, sizeof(xlsx), "web-ledger.xlsx");
  assert_int_equal(sh(NULL, "curl -sf -b '%s' -D '%s' -o '%s' "
                            "'%s/api/v1/documents/ledger?from=2000-01-01&to=2099-12-31'",
                      jar, hdr, xlsx, base),
                   0);
  assert_int_equal(sh(&h, "cat '%s'", hdr), 0);
  CONTAINS(h, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
  CONTAINS(h, "filename=\"ledger-2000-01-01_2099-12-31.xlsx\"");
  CONTAINS(h, "filename*=UTF-8''%E5%8F%B0%E8%B4%A6-");
  free(h);
  assert_int_equal(
      sh(NULL, "/usr/bin/python3 '%s' '%s' 6 '%s' 86000", CHECK_XLSX, xlsx, ID_NUMBER), 0);
  assert_int_equal(sh(NULL, "curl -sf -b '%s' -o '%s' "
                            "'%s/api/v1/documents/ledger?community=baihe'",
                      jar, xlsx, base),
                   0);
  assert_int_equal(sh(NULL, "/usr/bin/python3 '%s' '%s' 3 '%s'", CHECK_XLSX, xlsx, ID_NUMBER), 0);
  /* A period before any case: a ledger of no rows, not an error. */
  assert_int_equal(sh(NULL, "curl -sf -b '%s' -o '%s' "
                            "'%s/api/v1/documents/ledger?from=2001-01-01&to=2001-12-31'",
                      jar, xlsx, base),
                   0);
  assert_int_equal(sh(NULL, "/usr/bin/python3 -c 'import openpyxl, sys; "
                            "sys.exit(openpyxl.load_workbook(sys.argv[1]).active.max_row != 2)' "
                            "'%s'",
                      xlsx),
                   0);
  /* Bad parameters name themselves; no session: 401. */
  static const char *const bad[][2] = {
      {"ledger?from=2026-02-30", "from"},
      {"ledger?to=yesterday", "to"},
      {"ledger?from=2026-05-01&to=2026-04-01", "to"},
      {"ledger?community=nowhere", "community"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(sh(&h, "curl -s -w ' %%{http_code}' -b '%s' '%s/api/v1/documents/%s'", jar,
                        base, bad[i][0]),
                     0);
    CONTAINS(h, " 400");
    char what[64];
    snprintf(what, sizeof(what), "documents: %s:", bad[i][1]);
    CONTAINS(h, what);
    free(h);
  }
  assert_int_equal(sh(&h, "curl -s -o /dev/null -w '%%{http_code}' "
                          "'%s/api/v1/documents/ledger'",
                      base),
                   0);
  assert_string_equal(h, "401");
  free(h);
  sh(NULL, "kill %d; sleep 0.3", pid);
}

/* Text without any whitespace: pdftotext breaks a long sentence where the
 * line ends, mediactl does not; the words must be the same. */
static void squeeze(char *s) {
  char *w = s;
  for (char *p = s; *p != '\0'; p++)
    if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != '\f')
      *w++ = *p;
  *w = '\0';
}

/* The annual report through the coordinators' gateway, as the logged-in
 * coordinator: a PDF whose text holds every sentence `mediactl report`
 * prints for the same store (the one builder in documents/), fonts
 * embedded; a bad or missing year is 400 naming it. */
static void web_report(void **state) {
  (void)state;
  char *out = NULL;
  assert_int_equal(sh(&out, "%s/services/mediation-web --config '%s' --coordinator "
                            ">'%s/web-report.log' 2>&1 & echo $!",
                      MEDIATION_BINARY_DIR, conf, dir),
                   0);
  int pid = atoi(out);
  free(out);
  assert_true(pid > 0);
  char base[64], jar[600], pdf[600], hdr[600], year[16];
  snprintf(year, sizeof(year), "%d", mc_date_of(mc_now_ms(), world.reg->utc_offset_minutes).year);
  snprintf(base, sizeof(base), "http://127.0.0.1:%d", web_port);
  path_of(jar, sizeof(jar), "report-cookies");
  path_of(pdf, sizeof(pdf), "web-report.pdf");
  path_of(hdr, sizeof(hdr), "web-report-headers");
  int up = 1;
  for (int i = 0; i < 50 && up != 0; i++) {
    up = sh(NULL, "curl -sf -o /dev/null %s/api/v1/methods", base);
    if (up != 0)
      usleep(100000);
  }
  assert_int_equal(up, 0);
  char *h = NULL;
  /* No session: 401 before anything is read. */
  assert_int_equal(sh(&h, "curl -s -o /dev/null -w '%%{http_code}' "
                          "'%s/api/v1/documents/report?year=%s'",
                      base, year),
                   0);
  assert_string_equal(h, "401");
  free(h);
  /* 张协调 was added by web_download. */
  assert_int_equal(sh(NULL, "curl -sf -c '%s' -H 'Content-Type: application/json' "
                            "-d '{\"name\":\"张协调\",\"password\":\"correct horse 42\"}' "
                            "%s/api/v1/login >/dev/null",
                      jar, base),
                   0);
  assert_int_equal(sh(NULL, "curl -sf -b '%s' -D '%s' -o '%s' '%s/api/v1/documents/report?year=%s'",
                      jar, hdr, pdf, base, year),
                   0);
  assert_int_equal(sh(&h, "cat '%s'", hdr), 0);
  CONTAINS(h, "Content-Type: application/pdf");
  char want[256];
  snprintf(want, sizeof(want), "filename=\"report-%s.pdf\"", year);
  CONTAINS(h, want);
  /* 年度报告, percent-encoded (RFC 5987) */
  snprintf(want, sizeof(want), "filename*=UTF-8''%s%%E5%%B9%%B4%%E5%%BA%%A6%%E6%%8A%%A5%%E5%%91%%8A.pdf",
           year);
  CONTAINS(h, want);
  free(h);
  assert_true(pdf_pages(pdf) >= 1);
  expect_fonts_embedded(pdf);
  render_pages(pdf, "web-report");
  /* Every line `mediactl report` prints before the scorecard, in the PDF. */
  mctl_result r = MCTL(conf, "report", "--year", year);
  mctl_expect(&r, 0, "report text");
  char *t = pdf_text(pdf);
  squeeze(t);
  int sentences = 0;
  char *save = NULL;
  for (char *line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
    if (strncmp(line, "社区考评", strlen("社区考评")) == 0)
      break;
    squeeze(line);
    if (line[0] == '\0')
      continue;
    CONTAINS(t, line);
    sentences++;
  }
  assert_true(sentences >= 8); /* the heading and at least seven sentences */
  CONTAINS(t, "社区考评");
  CONTAINS(t, "王隘社区");
  CONTAINS(t, "孔雀社区");
  LACKS(t, ID_NUMBER);
  free(t);
  mctl_free(&r);
  /* The same document as `mediactl document report` for the same store. */
  char cli_pdf[600];
  path_of(cli_pdf, sizeof(cli_pdf), "cli-report.pdf");
  r = MCTL(conf, "document", "report", "--year", year, "-o", cli_pdf);
  mctl_expect(&r, 0, "document report");
  mctl_free(&r);
  assert_int_equal(sh(NULL, "pdftotext '%s' '%s.txt' && pdftotext '%s' '%s.txt' && cmp -s '%s.txt' '%s.txt'",
                      cli_pdf, cli_pdf, pdf, pdf, cli_pdf, pdf),
                   0);
  /* The same report's text as JSON (the dashboard shows it): the heading,
   * sentences and scorecard of `mediactl report --json`. */
  char json_web[600], json_cli[600];
  path_of(json_web, sizeof(json_web), "web-report.json");
  path_of(json_cli, sizeof(json_cli), "cli-report.json");
  assert_int_equal(sh(NULL, "curl -sf -b '%s' -o '%s' '%s/api/v1/report?year=%s' && "
                            "%s/services/mediactl --config '%s' --json report --year %s > '%s'",
                      jar, json_web, base, year, MEDIATION_BINARY_DIR, conf, year, json_cli),
                   0);
  assert_int_equal(sh(NULL, "/usr/bin/python3 -c 'import json, sys; w = json.load(open(sys.argv[1])); "
                            "c = json.load(open(sys.argv[2])); "
                            "card = lambda rows: [(x[\"name\"], x[\"cases\"], x[\"mediated\"]) for x in rows]; "
                            "sys.exit(not (w[\"title\"] == c[\"title\"] and w[\"sentences\"] == c[\"sentences\"] "
                            "and len(w[\"sentences\"]) >= 7 and card(w[\"scorecard\"]) == card(c[\"scorecard\"]) "
                            "and w[\"total\"][\"cells\"][0] == \"合计\"))' '%s' '%s'",
                      json_web, json_cli),
                   0);
  assert_int_equal(sh(&h, "curl -s -w ' %%{http_code}' -b '%s' '%s/api/v1/report?year=x'", jar,
                      base),
                   0);
  CONTAINS(h, " 400");
  CONTAINS(h, "report: year:");
  free(h);
  /* A bad or missing year: 400 naming the parameter. */
  static const char *const bad[] = {"report", "report?year=", "report?year=26",
                                    "report?year=20x6", "report?year=0999", "report?from=2026"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(sh(&h, "curl -s -w ' %%{http_code}' -b '%s' '%s/api/v1/documents/%s'", jar,
                        base, bad[i]),
                     0);
    CONTAINS(h, " 400");
    CONTAINS(h, "documents: year:");
    free(h);
  }
  sh(NULL, "kill %d; sleep 0.3", pid);
}

/* A unit's site: the ledger of the cases its unit holds, through its Desk
 * (Desk/ListCases pages), as the unit's operators read them. */
static void web_unit_ledger(void **state) {
  (void)state;
  assert_int_equal(tw_start_unit(&world, "community-station", "station-kongque"), 0);
  char *out = NULL;
  assert_int_equal(sh(&out, "printf 'correct horse 42\\n' | %s/services/mediactl --config '%s' "
                            "--unit station-kongque user add 李秀英 --password-stdin 2>&1",
                      MEDIATION_BINARY_DIR, conf),
                   0);
  free(out);
  assert_int_equal(sh(&out, "%s/services/mediation-web --config '%s' --unit station-kongque "
                            ">'%s/web-unit.log' 2>&1 & echo $!",
                      MEDIATION_BINARY_DIR, conf, dir),
                   0);
  int pid = atoi(out);
  free(out);
  assert_true(pid > 0);
  char base[64], jar[600], xlsx[600];
  snprintf(base, sizeof(base), "http://127.0.0.1:%d", unit_web_port);
  path_of(jar, sizeof(jar), "unit-cookies");
  path_of(xlsx, sizeof(xlsx), "web-unit-ledger.xlsx");
  int up = 1;
  for (int i = 0; i < 50 && up != 0; i++) {
    up = sh(NULL, "curl -sf -o /dev/null %s/api/v1/methods", base);
    if (up != 0)
      usleep(100000);
  }
  assert_int_equal(up, 0);
  assert_int_equal(sh(NULL, "curl -sf -c '%s' -H 'Content-Type: application/json' "
                            "-d '{\"name\":\"李秀英\",\"password\":\"correct horse 42\"}' "
                            "%s/api/v1/login >/dev/null",
                      jar, base),
                   0);
  assert_int_equal(sh(NULL, "curl -sf -b '%s' -o '%s' '%s/api/v1/documents/ledger'", jar, xlsx,
                      base),
                   0);
  /* The unit holds scenario 1's case at least; a period before it: none. */
  assert_int_equal(sh(NULL, "/usr/bin/python3 -c 'import openpyxl, sys; "
                            "sys.exit(openpyxl.load_workbook(sys.argv[1]).active.max_row < 3)' "
                            "'%s'",
                      xlsx),
                   0);
  assert_int_equal(sh(NULL, "curl -sf -b '%s' -o '%s' "
                            "'%s/api/v1/documents/ledger?to=2001-01-01'",
                      jar, xlsx, base),
                   0);
  assert_int_equal(sh(NULL, "/usr/bin/python3 -c 'import openpyxl, sys; "
                            "sys.exit(openpyxl.load_workbook(sys.argv[1]).active.max_row != 2)' "
                            "'%s'",
                      xlsx),
                   0);
  char *h = NULL;
  assert_int_equal(sh(&h, "curl -s -o /dev/null -w '%%{http_code}' -b '%s' "
                          "'%s/api/v1/documents/ledger?from=20260101'",
                      jar, base),
                   0);
  assert_string_equal(h, "400");
  free(h);
  /* The annual report (PDF and text) is the coordinators': 404 here, as
   * their methods are, with or without a session. */
  for (int k = 0; k < 4; k++) {
    bool with_session = k % 2 == 1;
    assert_int_equal(sh(&h, "curl -s -w ' %%{http_code}' %s%s%s '%s/api/v1/%s?year=2026'",
                        with_session ? "-b '" : "", with_session ? jar : "",
                        with_session ? "'" : "", base, k < 2 ? "documents/report" : "report"),
                     0);
    CONTAINS(h, " 404");
    CONTAINS(h, "coordinators' site only");
    free(h);
  }
  sh(NULL, "kill %d; sleep 0.3", pid);
  assert_int_equal(tw_stop_unit(&world, "station-kongque"), 0);
}

/* ---- the gateway's document workers (web/workers.c) ---- */

/* Starts the coordinators' gateway as a child of this test (so its exit
 * status is ours to see), logs in 张协调 (added by web_download) into the
 * cookie jar jar_name. */
static void web_start(th_proc *p, const char *log_name, const char *jar_name, char base[64],
                      char jar[600]) {
  char log[600];
  path_of(log, sizeof(log), log_name);
  path_of(jar, 600, jar_name);
  char bin[600];
  snprintf(bin, sizeof(bin), "%s/services/mediation-web", MEDIATION_BINARY_DIR);
  const char *argv[] = {bin, "--config", conf, "--coordinator", NULL};
  /* Never under stage 2's valgrind, as web_download's gateway is not: a
   * burst of renders and Argon2id logins there takes minutes. Stage 3's
   * ASan (the environment it inherits) is where its memory is checked. */
  const char *saved = getenv("MEDIATION_TEST_WRAPPER");
  char saved_copy[512] = "";
  if (saved != NULL)
    snprintf(saved_copy, sizeof(saved_copy), "%s", saved);
  unsetenv("MEDIATION_TEST_WRAPPER");
  int started = th_start(p, "mediation-web", argv, log, 20000);
  if (saved != NULL)
    setenv("MEDIATION_TEST_WRAPPER", saved_copy, 1);
  assert_int_equal(started, 0);
  snprintf(base, 64, "http://127.0.0.1:%d", web_port);
  assert_int_equal(sh(NULL, "curl -sf -c '%s' -H 'Content-Type: application/json' "
                            "-d '{\"name\":\"张协调\",\"password\":\"correct horse 42\"}' "
                            "%s/api/v1/login >/dev/null",
                      jar, base),
                   0);
}

/* The threads of process pid now (/proc/pid/task), or -1. */
static int threads_of(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  if (d == NULL)
    return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* n case-file downloads at once, in the background, in English: for
 * each, "i status size" a line of codes_path (then "end"), its headers in
 * codes_path-i.head and its body in codes_path-i.body. */
static void burst(const char *base, const char *jar, int n, const char *codes_path) {
  assert_int_equal(sh(NULL, "(for i in $(seq %d); do curl -s -m 60 -H 'Accept-Language: en' "
                            "-D '%s'-$i.head -o '%s'-$i.body -w \"$i %%{http_code} "
                            "%%{size_download}\\n\" -b '%s' "
                            "'%s/api/v1/documents/case-file?case=%s' & done; wait; echo end) "
                            ">'%s' 2>&1 &",
                      n, codes_path, codes_path, jar, base, ids[1], codes_path),
                   0);
}

/* Waits (up to 120 s) for a burst's "end"; the whole file (caller frees).
 * While waiting, *max_threads (if not NULL) keeps the most threads pid had. */
static char *burst_wait(const char *codes_path, pid_t pid, int *max_threads) {
  for (int i = 0; i < 12000; i++) {
    if (max_threads != NULL) {
      int t = threads_of(pid);
      if (t > *max_threads)
        *max_threads = t;
    }
    char *codes = th_read_file(codes_path);
    if (codes != NULL && strstr(codes, "end") != NULL)
      return codes;
    free(codes);
    usleep(10000);
  }
  fail_msg("the burst of downloads did not end within 120 s");
  return NULL;
}

/* A burst of case-file downloads beyond the document workers' queue: the
 * ones beyond get 503 with Retry-After and a message saying why, every
 * other one its whole PDF; logins and other requests are still answered
 * meanwhile; the gateway's threads stay the pool's (no thread per
 * download). Then SIGTERM with downloads in flight: a clean exit (status 0,
 * well before the 15 s watchdog; under ASan, no leak report), every
 * download answered 200 or 503 or its connection closed. */
static void web_workers(void **state) {
  (void)state;
  th_proc web;
  char base[64], jar[600], codes_path[600];
  web_start(&web, "web-workers.log", "workers-cookies", base, jar);
  path_of(codes_path, sizeof(codes_path), "burst-codes");
  /* One download first: the renderer's libraries start what they keep
   * on their first use. */
  assert_int_equal(sh(NULL, "curl -sf -o /dev/null -b '%s' '%s/api/v1/documents/case-file?case=%s'",
                      jar, base, ids[1]),
                   0);
  int idle_threads = threads_of(web.pid);
  assert_true(idle_threads > 0);

  enum { N = 60 };
  burst(base, jar, N, codes_path);
  /* Meanwhile: a login (its own workers) and a plain API read. */
  char *h = NULL;
  usleep(50000);
  assert_int_equal(sh(&h, "curl -s -o /dev/null -w '%%{http_code}' -H 'Content-Type: "
                          "application/json' -d '{\"name\":\"张协调\",\"password\":\"correct "
                          "horse 42\"}' %s/api/v1/login",
                      base),
                   0);
  assert_string_equal(h, "200");
  free(h);
  assert_int_equal(sh(&h, "curl -s -o /dev/null -w '%%{http_code}' -b '%s' %s/api/v1/session",
                      jar, base),
                   0);
  assert_string_equal(h, "200");
  free(h);
  int max_threads = idle_threads;
  char *codes = burst_wait(codes_path, web.pid, &max_threads);
  int ok = 0, busy = 0;
  char *save = NULL;
  for (char *line = strtok_r(codes, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
    if (strcmp(line, "end") == 0)
      continue;
    int i = 0, status = 0;
    long size = 0;
    if (sscanf(line, "%d %d %ld", &i, &status, &size) != 3)
      fail_msg("a download's line: %s", line);
    char name[700];
    snprintf(name, sizeof(name), "%s-%d.body", codes_path, i);
    char *body = th_read_file(name);
    snprintf(name, sizeof(name), "%s-%d.head", codes_path, i);
    char *head = th_read_file(name);
    assert_non_null(body);
    assert_non_null(head);
    if (status == 200 && size > 10000 && strncmp(body, "%PDF-", 5) == 0) {
      ok++;
    } else if (status == 503) {
      /* What a refused one reads: Retry-After and the reason in words. */
      CONTAINS(head, "Retry-After: 2");
      CONTAINS(body, "\"code\":\"UNAVAILABLE\"");
      CONTAINS(body, "too many documents are being made: try again in a few seconds");
      busy++;
    }
    free(body);
    free(head);
    if (status != 200 && status != 503)
      fail_msg("a download of the burst ended %d (%ld bytes): neither its PDF nor 503", status,
               size);
  }
  free(codes);
  printf("burst of %d: %d PDFs, %d refused 503; threads idle %d, at most %d\n", N, ok, busy,
         idle_threads, max_threads);
  assert_int_equal(ok + busy, N);
  assert_true(ok >= 12); /* the queue's 12 at least (and what the 3 workers took) */
  assert_true(busy > 0);
  /* nng's threads and the pools', started with the gateway: a download
   * adds none (before the pool, each had a thread of its own: dozens at
   * once). The slack: rendering itself starts a short-lived helper thread
   * now and then (seen: at most 3 at once, with 3 renders running). */
  assert_true(max_threads <= idle_threads + 6);
  /* SIGTERM with downloads in flight. */
  burst(base, jar, 30, codes_path);
  usleep(300000);
  int64_t t0 = mc_mono_ms();
  int rc = th_stop(&web, 14000);
  int64_t took = mc_mono_ms() - t0;
  codes = burst_wait(codes_path, -1, NULL);
  save = NULL;
  int answered[3] = {0, 0, 0}; /* 200, 503, closed */
  for (char *line = strtok_r(codes, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
    int status = -1;
    if (strcmp(line, "end") == 0)
      continue;
    if (sscanf(line, "%*d %d", &status) != 1 || (status != 200 && status != 503 && status != 0))
      fail_msg("a download in flight at SIGTERM ended: %s", line);
    answered[status == 200 ? 0 : status == 503 ? 1 : 2]++;
  }
  free(codes);
  char log[600];
  path_of(log, sizeof(log), "web-workers.log");
  char *text = th_read_file(log);
  assert_non_null(text);
  LACKS(text, "AddressSanitizer");
  LACKS(text, "LeakSanitizer");
  LACKS(text, "runtime error");
  LACKS(text, "closing the network sockets took over"); /* the watchdog's exit */
  free(text);
  printf("stopped with downloads in flight: status %d after %lld ms; %d PDFs, %d 503, %d closed\n",
         rc, (long long)took, answered[0], answered[1], answered[2]);
  assert_true(answered[0] + answered[1] > 0); /* some were in flight, and answered */
  assert_int_equal(rc, 0);
  assert_true(took < 12000);
}

/* The ledger's row limit (LEDGER_MAX_ROWS, 10,000 in use) made 3 through
 * MEDIATION_TEST_LEDGER_MAX_ROWS: the whole period's 6 cases are refused
 * with 413 and the advice, in either language; a community's 3 (the limit
 * exactly) and an empty period are still served. */
static void web_ledger_limit(void **state) {
  (void)state;
  th_proc web;
  char base[64], jar[600], xlsx[600];
  setenv("MEDIATION_TEST_LEDGER_MAX_ROWS", "3", 1);
  web_start(&web, "web-ledger-limit.log", "limit-cookies", base, jar);
  unsetenv("MEDIATION_TEST_LEDGER_MAX_ROWS");
  path_of(xlsx, sizeof(xlsx), "web-ledger-limit.xlsx");
  char *h = NULL;
  assert_int_equal(sh(&h, "curl -s -w ' %%{http_code}' -H 'Accept-Language: en' -b '%s' "
                          "'%s/api/v1/documents/ledger?from=2000-01-01&to=2099-12-31'",
                      jar, base),
                   0);
  CONTAINS(h, " 413");
  CONTAINS(h, "\"code\":\"RESOURCE_EXHAUSTED\"");
  CONTAINS(h, "ledger: more than 3 cases in the period; narrow from/to or community");
  free(h);
  assert_int_equal(sh(&h, "curl -s -w ' %%{http_code}' -H 'Accept-Language: zh-CN' -b '%s' "
                          "'%s/api/v1/documents/ledger'",
                      jar, base),
                   0);
  CONTAINS(h, " 413");
  CONTAINS(h, "该期间超过 3 件案件");
  free(h);
  assert_int_equal(sh(&h, "curl -s -o '%s' -w '%%{http_code}' -b '%s' "
                          "'%s/api/v1/documents/ledger?community=baihe'",
                      xlsx, jar, base),
                   0);
  assert_string_equal(h, "200");
  free(h);
  assert_int_equal(sh(NULL, "/usr/bin/python3 '%s' '%s' 3 '%s'", CHECK_XLSX, xlsx, ID_NUMBER), 0);
  assert_int_equal(sh(&h, "curl -s -o /dev/null -w '%%{http_code}' -b '%s' "
                          "'%s/api/v1/documents/ledger?from=2001-01-01&to=2001-12-31'",
                      jar, base),
                   0);
  assert_string_equal(h, "200");
  free(h);
  char log[600];
  path_of(log, sizeof(log), "web-ledger-limit.log");
  char *text = th_read_file(log);
  assert_non_null(text);
  CONTAINS(text, "ledger downloads limited to 3 cases");
  free(text);
  assert_int_equal(th_stop(&web, 14000), 0);
}

static void usage(void **state) {
  (void)state;
  mctl_result r = MCTL(conf, "document", "minutes", "-o", "/tmp/x");
  mctl_expect(&r, 2, "unknown document");
  mctl_free(&r);
  r = MCTL(conf, "document", "case-file", "-o", "/tmp/x");
  mctl_expect(&r, 2, "case-file without CASE");
  mctl_free(&r);
  r = MCTL(conf, "document", "ledger", ids[0]);
  mctl_expect(&r, 2, "ledger without -o");
  mctl_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(scenarios),  cmocka_unit_test(agreements),
      cmocka_unit_test(agreement_numbers),
      cmocka_unit_test(case_files), cmocka_unit_test(verify_print_older),
      cmocka_unit_test(ledger),     cmocka_unit_test(report),
      cmocka_unit_test(desk_documents), cmocka_unit_test(web_download),
      cmocka_unit_test(web_report),
      cmocka_unit_test(web_unit_ledger),
      cmocka_unit_test(web_workers),
      cmocka_unit_test(web_ledger_limit),
      cmocka_unit_test(usage),
  };
  return cmocka_run_group_tests_name("documents of the reference scenarios", tests, setup,
                                     teardown);
}
