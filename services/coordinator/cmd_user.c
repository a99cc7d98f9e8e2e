/*
 * cmd_user.c - `mediactl user add|passwd|disable|enable|list`: the persons
 * who may log in to a web site (mediation-web), kept in the site's accounts
 * (web/accounts.h) under [web <site>] data_dir.
 *
 * The idea: an account is for a person the deployment already knows. A
 * unit's site (--unit UNIT) takes only the persons on that unit's roster
 * ([unit] member), with the roster's role; the coordinators' site
 * (--coordinators) takes any name, as "coordinator". No service is called:
 * the command opens the site's LMDB itself, on the gateway's machine, so it
 * works while the gateway runs (LMDB serves both processes).
 *
 * A password is never an argument (it would be seen by ps and kept in shell
 * history): it is typed twice at the terminal without echo, or read as one
 * line from standard input with --password-stdin. It is read with read(2)
 * into one buffer that is wiped after use (no stdio buffer keeps a copy),
 * and never printed. Names are printed only where the admin asked for them
 * (the list), never in an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "services/coordinator/ctl.h"
#include "web/accounts.h"

enum {
  UO_COORDINATORS = 1,
  UO_PASSWORD_STDIN,
};

typedef enum user_action { U_ADD = 1, U_PASSWD, U_DISABLE, U_ENABLE, U_LIST } user_action;

typedef struct user_state {
  bool coordinators;
  bool password_stdin;
  user_action action;
  const char *name; /* borrowed from the command line */
  const char *site; /* a unit id or "coordinators" (borrowed) */
  wa_store *store;
} user_state;

static const struct option user_options[] = {
    {"coordinators", no_argument, NULL, UO_COORDINATORS},
    {"password-stdin", no_argument, NULL, UO_PASSWORD_STDIN},
    {NULL, 0, NULL, 0},
};

static int user_option(ctl_ctx *ctx, void *st, int opt, const char *value) {
  (void)ctx;
  (void)value;
  user_state *u = st;
  if (opt == UO_COORDINATORS)
    u->coordinators = true;
  else if (opt == UO_PASSWORD_STDIN)
    u->password_stdin = true;
  return CTL_EXIT_OK;
}

static int user_check(ctl_ctx *ctx, void *st) {
  user_state *u = st;
  static const struct {
    const char *word;
    user_action action;
  } actions[] = {{"add", U_ADD},         {"passwd", U_PASSWD}, {"disable", U_DISABLE},
                 {"enable", U_ENABLE},   {"list", U_LIST}};
  for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
    if (strcmp(ctx->args[0], actions[i].word) == 0)
      u->action = actions[i].action;
  }
  if (u->action == 0)
    return ctl_usage_error(ctx, "expected add, passwd, disable, enable or list");
  int want = u->action == U_LIST ? 1 : 2;
  if (ctx->n_args != want)
    return ctl_usage_error(ctx, want == 1 ? "list takes no NAME"
                                          : "expected NAME (a password is never an argument: "
                                            "it is asked for, or read with --password-stdin)");
  u->name = want == 2 ? ctx->args[1] : NULL;
  if ((ctx->unit_arg != NULL) == u->coordinators)
    return ctl_usage_error(ctx, "give the site: --unit UNIT or --coordinators (one of them)");
  if (u->password_stdin && u->action != U_ADD && u->action != U_PASSWD)
    return ctl_usage_error(ctx, "--password-stdin: only add and passwd take a password");
  mc_err err;
  if (u->name != NULL && wa_check_name(u->name, &err) != MC_OK)
    return ctl_usage_error(ctx, "NAME: %s", err.msg);
  return CTL_EXIT_OK;
}

/* ---- passwords ---------------------------------------------------------------- */

/* One line from fd into buf (NUL-terminated, without its "\n" or "\r\n"),
 * byte by byte so that nothing but buf holds it. 0; 1 at the end of input
 * before any byte; -1 longer than cap - 1 bytes (the rest of the line is
 * read and dropped); -2 a read error. */
static int read_line(int fd, char *buf, size_t cap) {
  size_t len = 0;
  bool any = false, over = false;
  for (;;) {
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -2;
    if (n == 0 || c == '\n')
      break;
    any = true;
    if (len + 1 < cap)
      buf[len++] = c;
    else
      over = true;
  }
  if (len > 0 && buf[len - 1] == '\r')
    len--;
  buf[len] = '\0';
  if (over)
    return -1;
  return any || len > 0 ? 0 : 1;
}

/* Asks on the terminal without echo. 0, or an exit code printed. */
static int ask(int tty, const char *prompt, char *buf, size_t cap) {
  struct termios old, quiet;
  if (tcgetattr(tty, &old) != 0)
    return ctl_fail(CTL_EXIT_FAILED, "cannot switch the terminal's echo off: %s",
                    strerror(errno));
  quiet = old;
  quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
  quiet.c_lflag |= ICANON;
  if (write(tty, prompt, strlen(prompt)) < 0 || tcsetattr(tty, TCSAFLUSH, &quiet) != 0)
    return ctl_fail(CTL_EXIT_FAILED, "cannot use the terminal: %s", strerror(errno));
  int rc = read_line(tty, buf, cap);
  tcsetattr(tty, TCSAFLUSH, &old);
  ssize_t ignored = write(tty, "\n", 1); /* the Enter that was not echoed */
  (void)ignored;
  if (rc == -1)
    return ctl_status_fail(MC_INVALID_ARGUMENT, "password: at most 128 bytes");
  if (rc != 0)
    return ctl_fail(CTL_EXIT_FAILED, "no password typed");
  return CTL_EXIT_OK;
}

/* The password, from the terminal (twice) or standard input, checked. */
static int get_password(const user_state *u, char *pw, size_t cap) {
  if (u->password_stdin) {
    int rc = read_line(STDIN_FILENO, pw, cap);
    if (rc == -1)
      return ctl_status_fail(MC_INVALID_ARGUMENT, "password: at most 128 bytes");
    if (rc != 0)
      return ctl_fail(CTL_EXIT_FAILED, "--password-stdin: no line on standard input");
  } else {
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (tty < 0)
      return ctl_fail(CTL_EXIT_USAGE, "no terminal to ask for the password on; give it on "
                                      "standard input with --password-stdin");
    char again[WA_PASSWORD_MAX + 2];
    int rc = ask(tty, "Password: ", pw, cap);
    if (rc == CTL_EXIT_OK)
      rc = ask(tty, "Password again: ", again, sizeof(again));
    close(tty);
    bool same = rc == CTL_EXIT_OK && strlen(pw) == strlen(again) &&
                sodium_memcmp(pw, again, strlen(pw)) == 0;
    sodium_memzero(again, sizeof(again));
    if (rc != CTL_EXIT_OK)
      return rc;
    if (!same)
      return ctl_fail(CTL_EXIT_USAGE, "the two passwords differ; nothing was changed");
  }
  mc_err err;
  if (wa_check_password(pw, &err) != MC_OK)
    return ctl_status_fail(err.code, err.msg);
  return CTL_EXIT_OK;
}

/* ---- the actions -------------------------------------------------------------- */

/* The role a unit's roster gives NAME, or NULL if it is not on it. */
static const char *roster_role(const mc_unit *unit, const char *name) {
  for (size_t i = 0; i < unit->n_roster; i++) {
    if (strcmp(unit->roster[i].person, name) == 0)
      return mc_name_of(mc_team_role_names, (int)unit->roster[i].role);
  }
  return NULL;
}

/* The role as people read it: the roster's label (调解员), else as stored. */
static const char *role_label(const char *role) {
  int v;
  if (mc_name_parse(mc_team_role_names, role, &v) == 0)
    return mc_label_of(mc_team_role_names, v);
  return strcmp(role, "coordinator") == 0 ? "协调员" : role;
}

static int add_or_passwd(ctl_ctx *ctx, user_state *u) {
  /* add at a unit: the roster's role; for passwd, the account's (below). */
  const char *role = ctx->unit != NULL ? roster_role(ctx->unit, u->name) : "coordinator";
  if (u->action == U_ADD && role == NULL)
    return ctl_status_fail(MC_FAILED_PRECONDITION,
                           "NAME is not on the unit's roster ([unit] member; `mediactl --unit "
                           "UNIT roster` lists it): only its team may have accounts");
  /* Refused before the password is typed, not after. */
  wa_account a;
  mc_err err;
  mc_code code = wa_get(u->store, u->name, &a, &err);
  if (u->action == U_ADD && code == MC_OK)
    return ctl_status_fail(MC_ALREADY_EXISTS, "NAME already has an account (user passwd sets "
                                              "a new password)");
  if (u->action == U_PASSWD && code == MC_NOT_FOUND)
    return ctl_status_fail(code, "no account with this name (user add makes one)");
  if (code != MC_OK && code != MC_NOT_FOUND)
    return ctl_status_fail(code, err.msg);
  if (u->action == U_PASSWD)
    role = a.role;
  char pw[WA_PASSWORD_MAX + 2];
  int rc = get_password(u, pw, sizeof(pw));
  if (rc == CTL_EXIT_OK)
    code = u->action == U_ADD ? wa_add(u->store, u->name, role, pw, mc_now_ms(), &err)
                              : wa_set_password(u->store, u->name, pw, mc_now_ms(), &err);
  sodium_memzero(pw, sizeof(pw));
  if (rc != CTL_EXIT_OK)
    return rc;
  if (code != MC_OK)
    return ctl_status_fail(code, code == MC_NOT_FOUND ? "no account with this name (user add "
                                                        "makes one)"
                                                      : err.msg);
  if (ctx->json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(u->name));
    json_object_object_add(o, "site", json_object_new_string(u->site));
    json_object_object_add(o, "done", json_object_new_string(u->action == U_ADD ? "added"
                                                                               : "password_set"));
    return ctl_json_print(o);
  }
  if (u->action == U_ADD)
    printf("已添加 %s 的账号（%s）。\n", u->name, role_label(role));
  else
    printf("已为 %s 设置新密码，锁定已解除。\n", u->name);
  return CTL_EXIT_OK;
}

static int set_disabled(ctl_ctx *ctx, user_state *u) {
  mc_err err;
  bool disabled = u->action == U_DISABLE;
  mc_code code = wa_set_disabled(u->store, u->name, disabled, &err);
  if (code != MC_OK)
    return ctl_status_fail(code, code == MC_NOT_FOUND ? "no account with this name" : err.msg);
  if (ctx->json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(u->name));
    json_object_object_add(o, "site", json_object_new_string(u->site));
    json_object_object_add(o, "disabled", json_object_new_boolean(disabled));
    return ctl_json_print(o);
  }
  printf(disabled ? "已停用 %s 的账号。\n" : "已启用 %s 的账号。\n", u->name);
  return CTL_EXIT_OK;
}

/* "active", "disabled" or "locked" (until locked_until_ms), as of now. */
static const char *state_of(const wa_account *a, int64_t now) {
  if (a->disabled)
    return "disabled";
  return a->locked_until_ms > now ? "locked" : "active";
}

static json_object *account_json(const wa_account *a, int64_t now) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "name", json_object_new_string(a->name));
  json_object_object_add(o, "role", json_object_new_string(a->role));
  json_object_object_add(o, "state", json_object_new_string(state_of(a, now)));
  json_object_object_add(o, "disabled", json_object_new_boolean(a->disabled));
  json_object_object_add(o, "failures", json_object_new_int64(a->failures));
  json_object_object_add(o, "locked_until_ms", json_object_new_int64(a->locked_until_ms));
  json_object_object_add(o, "last_login_ms", json_object_new_int64(a->last_login_ms));
  json_object_object_add(o, "created_ms", json_object_new_int64(a->created_ms));
  json_object_object_add(o, "password_changed_ms",
                         json_object_new_int64(a->password_changed_ms));
  return o;
}

static int print_list(ctl_ctx *ctx, const wa_account *list, size_t n) {
  static const char *const headers[] = {"人员", "角色", "状态", "最近登录"};
  ctl_table *t = ctl_table_new(4, headers, "llll");
  int64_t now = mc_now_ms();
  for (size_t i = 0; i < n; i++) {
    char state[CTL_FMT_MAX + 16], last[CTL_FMT_MAX];
    const char *s = state_of(&list[i], now);
    if (strcmp(s, "locked") == 0) {
      char until[CTL_FMT_MAX];
      ctl_fmt_time(ctx, list[i].locked_until_ms, until);
      snprintf(state, sizeof(state), "锁定至 %s", until);
    } else {
      snprintf(state, sizeof(state), "%s", strcmp(s, "disabled") == 0 ? "已停用" : "正常");
    }
    ctl_fmt_time(ctx, list[i].last_login_ms, last);
    const char *cells[] = {list[i].name, role_label(list[i].role), state, last};
    ctl_table_add(t, cells);
  }
  int rc = ctl_table_print(t, stdout);
  ctl_table_free(t);
  return rc == 0 ? CTL_EXIT_OK : ctl_fail(CTL_EXIT_FAILED, "out of memory");
}

static int list_accounts(ctl_ctx *ctx, user_state *u) {
  wa_account *list = NULL;
  size_t n = 0;
  mc_err err;
  mc_code code = wa_list(u->store, &list, &n, &err);
  if (code != MC_OK)
    return ctl_status_fail(code, err.msg);
  int rc;
  if (ctx->json) {
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    int64_t now = mc_now_ms();
    for (size_t i = 0; i < n; i++)
      json_object_array_add(arr, account_json(&list[i], now));
    json_object_object_add(o, "site", json_object_new_string(u->site));
    json_object_object_add(o, "accounts", arr);
    rc = ctl_json_print(o);
  } else if (n == 0) {
    puts("这个站点还没有账号（mediactl user add NAME）。");
    rc = CTL_EXIT_OK;
  } else {
    rc = print_list(ctx, list, n);
  }
  free(list);
  return rc;
}

static int user_run(ctl_ctx *ctx, void *st) {
  user_state *u = st;
  int rc = ctl_load(ctx);
  if (rc != CTL_EXIT_OK)
    return rc;
  u->site = ctx->unit != NULL ? ctx->unit->id : MC_WEB_COORDINATORS;
  const mc_web_site *site = mc_registry_web_site(ctx->reg, u->site);
  if (site == NULL)
    return ctl_fail(CTL_EXIT_FAILED,
                    "configuration: no [web %s] section (its data_dir is where the site's "
                    "accounts are kept)",
                    u->site);
  mc_err err;
  if (wa_open(site->data_dir, &u->store, &err) != MC_OK)
    return ctl_fail(CTL_EXIT_FAILED, "%s", err.msg);
  switch (u->action) {
  case U_ADD:
  case U_PASSWD: return add_or_passwd(ctx, u);
  case U_DISABLE:
  case U_ENABLE: return set_disabled(ctx, u);
  case U_LIST: return list_accounts(ctx, u);
  }
  return CTL_EXIT_USAGE;
}

static void user_done(void *st) {
  user_state *u = st;
  wa_close(u->store);
}

const ctl_ops ctl_user_ops = {
    .state_size = sizeof(user_state),
    .options = user_options,
    .args = "add NAME, passwd NAME, disable NAME, enable NAME or list",
    .max_args = 2,
    .option = user_option,
    .check = user_check,
    .run = user_run,
    .done = user_done,
};
