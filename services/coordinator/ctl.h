/*
 * ctl.h - the insides of mediactl, the one command-line client: the command
 * table, the context a command runs in, and what every command shares
 * (options, configuration, connections, calls, output).
 *
 * The idea (after redis-cli and git): one table lists every command with its
 * ops (options, request builder, renderer), what it talks to, a one-line
 * summary and its usage text. That table drives `mediactl --help`,
 * `mediactl <command> --help`, usage errors and dispatch, so a command
 * cannot be dispatched without being documented; one runner (run.c) takes
 * every command from its command line to its output. main.c only calls
 * ctl_main; the tests link this library.
 *
 * Exit codes (documented in --help and docs/mediactl.md) say what went wrong
 * without parsing text: 0 done; 1 failed locally (configuration, key, I/O) or
 * inside the service (INTERNAL, DATA_LOSS), or verify found problems; 2 the
 * command line is wrong (usage printed); 3 the service refused the step
 * (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...); 4 the service
 * could not be reached or did not answer in time (UNAVAILABLE,
 * DEADLINE_EXCEEDED) or reports it is not serving; 5 who you are is the
 * problem (UNAUTHENTICATED, PERMISSION_DENIED): the fix is another key or
 * another unit, not another step, so scripts get their own code for it.
 *
 * Ownership: the context owns its registry, key and client (ctl_ctx_close
 * frees them). Replies returned by ctl_call are the caller's
 * (protobuf_c_message_free_unpacked; the runner frees those it gets).
 * Requests are built into the command's state (ctl_ops), borrowing the
 * command line's strings; the state is freed after the command's done.
 */
#ifndef CTL_CTL_H
#define CTL_CTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "core/clock.h"
#include "core/names.h"
#include "core/registry.h"
#include "core/status.h"
#include "mv1.h"
#include "rpc/client.h"
#include "rpc/identity.h"

enum {
  CTL_EXIT_OK = 0,
  CTL_EXIT_FAILED = 1,
  CTL_EXIT_USAGE = 2,
  CTL_EXIT_REFUSED = 3,
  CTL_EXIT_UNREACHABLE = 4,
  CTL_EXIT_DENIED = 5,
  CTL_EXIT_PARTIAL = 6, /* a Desk took the step, but refused a step its policy added */
  CTL_EXIT_PENDING = 7, /* a Desk applied the step; a step its policy added is still queued */
};

#define CTL_DEFAULT_CONFIG MEDIATION_DEFAULT_CONFIG /* the build's sysconfdir (CMakeLists.txt) */
#define CTL_DEFAULT_TIMEOUT_MS 10000
#define CTL_DEFAULT_COORDINATOR "coordinator"

/* What a command talks to. */
typedef enum ctl_target {
  CTL_LOCAL = 0, /* nothing (help) */
  CTL_DESK,      /* the Desk of the unit named by --unit (required) */
  CTL_ROUTER,    /* the router; --unit, if the command takes it, is a filter */
  CTL_EITHER,    /* the unit's service with --unit, else the router */
} ctl_target;

/* Who a command is for, as `mediactl --help` groups them. */
typedef enum ctl_group {
  CTL_FOR_OPERATORS = 1,
  CTL_FOR_COORDINATORS,
  CTL_FOR_WEB, /* a web site's logins, on the gateway's machine (no service is called) */
  CTL_FOR_EVERYONE,
} ctl_group;

/* Options of the step commands (accept, refuse, ...): one parser serves them
 * all, and each command's table entry says which it takes and which it needs. */
enum {
  CTL_SO_REASON = 1u << 0,       /* --reason TEXT */
  CTL_SO_PERSON = 1u << 1,       /* --person NAME: who acts (assign/release: the member) */
  CTL_SO_TO = 1u << 2,           /* --to UNIT */
  CTL_SO_ROLE = 1u << 3,         /* --role mediator|counsellor|lawyer */
  CTL_SO_NOTE = 1u << 4,         /* --note TEXT */
  CTL_SO_AT = 1u << 5,           /* --at TIME */
  CTL_SO_AGREEMENT = 1u << 6,    /* --agreement | --no-agreement */
  CTL_SO_AMOUNT = 1u << 7,       /* --amount-yuan N */
  CTL_SO_RESOLUTION = 1u << 8,   /* --resolution in_fact|in_substance */
  CTL_SO_SUMMARY = 1u << 9,      /* --summary TEXT */
  CTL_SO_FOLLOWUP = 1u << 10,    /* --followup-due TIME */
  CTL_SO_RESULT = 1u << 11,      /* --result judgment|... */
  CTL_SO_SATISFACTION = 1u << 12,/* --satisfaction satisfied|... */
  CTL_SO_VISITED = 1u << 13,     /* --visited TIME */
  CTL_SO_TERMS = 1u << 14,       /* --terms, --performance-method, --performance-due */
};

typedef struct ctl_ctx ctl_ctx;
typedef struct ctl_command ctl_command;
typedef struct ctl_ops ctl_ops;

/* The request a command built: what to call, and the message (in the
 * command's state, borrowing the command line's strings). */
typedef struct ctl_request {
  const ProtobufCServiceDescriptor *service;
  const char *method;
  const ProtobufCMessage *message;
} ctl_request;

/* How a command runs, as a table of functions (in nng's manner). ctl_main
 * drives every command the same way: parse (its options, then its argument),
 * check its target once (--unit where it is needed), then build the request,
 * call the service, and print the reply as JSON or as the command's table.
 * A command that does not fit that shape (help, report) gives run instead of
 * build, render and verdict. Every function is optional but build or run.
 *
 * The state is the command's own struct: state_size bytes, zeroed, alive
 * from init to done. Each function returns an exit code (CTL_EXIT_OK to go
 * on), having printed what went wrong. */
struct ctl_ops {
  size_t state_size;
  const struct option *options; /* its own long options; NULL: none */
  const char *args;             /* its one argument, as "expected <args>"; NULL: none */
  bool args_optional;           /* the argument may be left out */
  /* More than one argument: 1 to max_args of them, in ctx->args (ctx->arg is
   * the first); check says which counts it takes. 0 or 1: one, as above. */
  int max_args;
  void (*init)(ctl_ctx *ctx, void *st);                           /* defaults */
  const struct option *(*options_of)(ctl_ctx *ctx, void *st);     /* instead of .options */
  int (*option)(ctl_ctx *ctx, void *st, int opt, const char *value); /* one option given */
  int (*options_done)(ctl_ctx *ctx, void *st); /* after the options, before the argument */
  int (*check)(ctl_ctx *ctx, void *st);        /* after the argument (ctx->arg), before the
                                                * target check: no configuration yet */
  /* Builds the request, loading the configuration (ctl_load) if it needs it. */
  int (*build)(ctl_ctx *ctx, void *st, ctl_request *req);
  int (*render)(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply); /* without --json */
  /* The exit code the reply gives, after it was printed either way (health,
   * verify, a Desk's steps); only called when printing succeeded. */
  int (*verdict)(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply);
  int (*run)(ctl_ctx *ctx, void *st); /* instead of build, call and print */
  void (*done)(void *st);             /* frees what the state holds */
};

struct ctl_command {
  const char *name;
  const ctl_ops *ops;
  ctl_target target;
  ctl_group group;
  const char *summary; /* one line for `mediactl --help` */
  const char *usage;   /* synopsis, description and options for `<command> --help` */
  bool unit_filter;    /* CTL_ROUTER only: --unit narrows what the router returns */
  const char *unit_why; /* CTL_DESK: why --unit is required, if not because operators act
                         * through their unit's service */
  /* Step commands only (ops = &ctl_step_ops): */
  mv_action_kind action;
  unsigned step_opts;     /* CTL_SO_* the command takes */
  unsigned step_required; /* CTL_SO_* it needs, besides --reason for an action that needs
                           * one (its definition, core/actions.h, says so) */
};

/* The table (commands.c), ending with an entry whose name is NULL. */
extern const ctl_command ctl_commands[];
const ctl_command *ctl_command_find(const char *name);

struct ctl_ctx {
  /* Global options, as given. */
  const char *config_path;
  const char *unit_arg; /* --unit: a unit id or its Chinese name */
  const char *as;       /* --as: the principal whose key signs */
  bool json;
  int64_t timeout_ms;
  bool stale_ok;   /* --stale-ok: reads any router of a cluster may answer */
  uint64_t node;   /* --node N: that router of a cluster only; 0: all (the leader) */
  const ctl_command *cmd;
  const char *arg; /* the command's argument, if it takes one and it was given */
#define CTL_ARGS_MAX 4
  const char *args[CTL_ARGS_MAX]; /* its arguments, for a command with max_args > 1 */
  int n_args;
  /* Made on demand by ctl_load and ctl_connect; freed by ctl_ctx_close. */
  mc_registry *reg;
  const mc_unit *unit; /* --unit resolved (borrowed from reg) */
  rpc_key *key;
  rpc_client *client;
  bool desk;           /* client dials a unit's Desk, not the router */
  /* A case argument in the form the services take (ctl_case_arg). */
  char case_buf[160];
  /* getopt_long's merged option list for the running command. */
  struct option merged[64];
  const struct option *merged_from;
};

/* The whole program: parses global options, finds the command, runs it. */
int ctl_main(int argc, char **argv);

void ctl_ctx_close(ctl_ctx *ctx);

/* ---- options (cli.c) ---- */

/* getopt_long over the command's own long options and the global ones (a
 * global option may come before or after the command). A command's option
 * values must not be the global ones' ('c', 'h', 1000-1099): a clash makes
 * the global option win. Returns an option's val, -1 at the end, or one of
 * these, after printing what is needed: */
#define CTL_OPT_HELP (-100)  /* --help: usage printed on stdout; exit 0 */
#define CTL_OPT_ERROR (-101) /* bad option: message and usage on stderr; exit 2 */
int ctl_getopt(ctl_ctx *ctx, int argc, char **argv, const struct option *opts);

/* Checks that exactly n positional arguments follow the options and points
 * out[0..n) at them. 0, or a usage error printed and CTL_EXIT_USAGE. */
int ctl_positionals(ctl_ctx *ctx, int argc, char **argv, int n, const char **out,
                    const char *what);

/* The runner (run.c). ctl_parse_command: init, options, argument, check;
 * CTL_OPT_HELP after --help. ctl_execute: build, connect, call, print (or
 * run). ctl_main calls them, with the target check between. */
int ctl_parse_command(ctl_ctx *ctx, void *st, int argc, char **argv);
int ctl_execute(ctl_ctx *ctx, void *st);
/* Whether the command talks to --unit's Desk: CTL_DESK, or CTL_EITHER with --unit. */
bool ctl_wants_desk(const ctl_ctx *ctx);

/* A short name or Chinese label of table for option; a usage error listing
 * the names if it is neither. */
int ctl_enum_option(ctl_ctx *ctx, const mc_name *table, const char *option, const char *text,
                    int *out);

/* Prints "mediactl <command>: <message>", a blank line and the command's
 * usage to stderr. Returns CTL_EXIT_USAGE. Never give it personal data. */
int ctl_usage_error(ctl_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "mediactl: <message>" to stderr and returns code. */
int ctl_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- configuration and connections (cli.c) ---- */

/* Loads the configuration (once) and resolves --unit. Exit code. */
int ctl_load(ctl_ctx *ctx);

/* A unit or community given by id or Chinese name; a usage error (naming
 * the option) if there is none. */
int ctl_find_unit(ctl_ctx *ctx, const char *text, const char *option, const mc_unit **out);
int ctl_find_community(ctl_ctx *ctx, const char *text, const char *option,
                       const mc_community **out);

/* A case as people type it, in the form the services take. Accepted
 * (CTL_CASE_FORMS says the same to the user):
 *   BH-2026-000001, bh-2026-1   the deployment's prefix in any case, a year and a serial
 *                               (padded to six digits)
 *   1                           this year's case number 1, the year taken at the
 *                               subdistrict's utc_offset_minutes
 *   2026-1                      case number 1 of 2026
 *   UNIT:REF                    a unit's own reference (UNIT: id, name or alias)
 *   REF                         with --unit to a Desk only: that unit's own reference
 * Anything else is a usage error (exit 2) naming `what` (the argument or
 * option). Loads the configuration. On CTL_EXIT_OK *out points at
 * ctx->case_buf. ids_only: UNIT:REF and REF are refused (filters on ids). */
#define CTL_CASE_FORMS                                                                          \
  "a case id (BH-2026-000001, any case), this year's number (1), YEAR-NUMBER (2026-1) or "    \
  "UNIT:REF"
int ctl_case_arg(ctl_ctx *ctx, const char *text, const char *what, bool ids_only,
                 const char **out);

/* Connects to the command's service: desk = the Desk of --unit (key
 * <unit>-operator unless --as), else the router (key --as, default the
 * coordinator). Loads the configuration first. Exit code. */
int ctl_connect(ctl_ctx *ctx, bool desk);

/* Calls a method on the connected service. On CTL_EXIT_OK *reply is the
 * caller's; otherwise the status is printed ("mediactl: refused:
 * FAILED_PRECONDITION: <the service's message>") and its exit code returned. */
int ctl_call(ctl_ctx *ctx, const ProtobufCServiceDescriptor *svc, const char *method,
             const ProtobufCMessage *request, ProtobufCMessage **reply);

/* The exit code for a status, and printing a status the way ctl_call does. */
int ctl_exit_for(mc_code code);
int ctl_status_fail(mc_code code, const char *message);

/* ---- names shown to people (format.c) ---- */

const char *ctl_unit_label(const ctl_ctx *ctx, const char *id);      /* 宋大姐调解工作室, or the id */
const char *ctl_community_label(const ctl_ctx *ctx, const char *id); /* 王隘社区, or the id */
/* The shortest name people use for a unit (大石头: an alias when it has one),
 * for lists that must fit; else its label. */
const char *ctl_unit_short_label(const ctl_ctx *ctx, const char *id);
/* Who an actor is: "大石头调解工作室 马德顺", "街道综治办协调员", "系统". */
void ctl_actor_label(const ctl_ctx *ctx, const mv_actor *a, char *buf, size_t cap);
/* A state's label, "—" for none. */
const char *ctl_state_label(int state);

/* ---- formatting and parsing (format.c) ---- */

#define CTL_FMT_MAX 48

void ctl_fmt_yuan(int64_t fen, char buf[CTL_FMT_MAX]);  /* "1234.56" */
void ctl_fmt_wan(int64_t fen, char buf[CTL_FMT_MAX]);   /* "403.64": 万元, two decimals, rounded */
void ctl_fmt_time(const ctl_ctx *ctx, int64_t ms, char buf[CTL_FMT_MAX]); /* "2026-03-05 10:00", "—" */
void ctl_fmt_duration(int64_t ms, char buf[CTL_FMT_MAX]); /* "3天4小时", "25分钟" */
void ctl_fmt_percent(int64_t num, int64_t den, char buf[CTL_FMT_MAX]); /* "66.7%", "100%", "—" */
void ctl_fmt_int(int64_t v, char buf[CTL_FMT_MAX]);

/* "12", "12.5", "12.50" yuan to fen; no sign, at most two decimals, at most
 * max_fen. 0 or -1. */
int ctl_parse_yuan(const char *s, int64_t max_fen, int64_t *fen);
/* A whole number in [min, max]. 0 or -1. */
int ctl_parse_long(const char *s, long min, long max, long *out);
/* "YYYY-MM-DD" at the subdistrict's offset: midnight starting that day. */
int ctl_parse_date(const ctl_ctx *ctx, const char *s, mc_date *out);
/* "now", "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" or "YYYY-MM-DDTHH:MM[:SS]",
 * local at the subdistrict's offset, to Unix ms. 0 or -1. */
int ctl_parse_time(const ctl_ctx *ctx, const char *s, int64_t *ms);
/* A short name or a Chinese label of table; -1 if neither. */
int ctl_parse_name(const mc_name *table, const char *s, int *out);
/* "divorce, custody, ..." for messages. */
void ctl_names_list(const mc_name *table, char *buf, size_t cap);

/* ---- tables (table.c) ---- */

/* Columns on a terminal: CJK ideographs and full-width forms take two, combining
 * marks none, everything else one. Decodes UTF-8 itself and does not depend on
 * the locale, so output is the same under LANG=C and in tests. Invalid bytes
 * count one each. */
size_t ctl_text_width(const char *s);

typedef struct ctl_table ctl_table;

/* A table of ncols columns; align is a string of 'l' and 'r', one per column. */
ctl_table *ctl_table_new(size_t ncols, const char *const *headers, const char *align);
/* Adds a row of ncols strings (copied; NULL prints as empty; control
 * characters print as spaces). 0, or -1 out of memory (the table remembers). */
int ctl_table_add(ctl_table *t, const char *const *cells);
/* Prints with columns padded to their widest cell, two spaces apart; the last
 * column is not padded. 0, or -1 if a row could not be added before. */
int ctl_table_print(const ctl_table *t, FILE *out);
/* From now on ctl_table_print keeps every line within max_width display
 * columns (0: no limit) by narrowing the columns whose bit is set in shrink
 * (free text: names, states), widest first, cutting their cells with "…". */
#define CTL_LIST_WIDTH 100 /* what lists fit by default (--wide: no limit) */
void ctl_table_fit(ctl_table *t, size_t max_width, unsigned shrink);
/* Prints the header and every row as CSV (csv.h), cells whole; bom: start
 * with the UTF-8 byte order mark (once per output). 0 or -1. */
int ctl_table_print_csv(const ctl_table *t, FILE *out, bool bom);
void ctl_table_free(ctl_table *t);

/* Lists of cases (list; search's hits are printed the same way): narrow
 * (wide false: short unit names, dates, fitted to CTL_LIST_WIDTH) or wide
 * (every column whole; what --csv writes, with ctl_table_print_csv). The
 * caller prints and frees the table (NULL: out of memory). */
ctl_table *ctl_summaries_table(const ctl_ctx *ctx, Mediation__V1__CaseSummary *const *cases,
                               size_t n, bool wide);

/* Prints "label  value" lines with the labels padded to one width. */
typedef struct ctl_kv {
  const char *label;
  const char *value;
} ctl_kv;
void ctl_kv_print(const ctl_kv *rows, size_t n, FILE *out);

/* ---- JSON (json.c) ---- */

/* The messages themselves are mapped by pbjson (pbjson/pbjson.h:
 * pj_from_message, pj_enum_name), the one JSON shape of the system. */
/* Prints o (pretty, UTF-8 as is) and a newline to stdout, and frees it.
 * CTL_EXIT_OK, or CTL_EXIT_FAILED if o is NULL (out of memory). */
int ctl_json_print(json_object *o);
/* Prints a reply message as JSON (the usual --json output). */
int ctl_json_print_message(const ProtobufCMessage *msg);

/* ---- cases for people (view.c) ---- */

/* The case record as labelled lines: state, holder, kind, community, money,
 * parties, team, sessions, outcome, court result, feedback... */
void ctl_print_case(const ctl_ctx *ctx, const mv_case *c, FILE *out);
/* The timeline: time, who, what (action and states), why (reason and details). */
int ctl_print_timeline(const ctl_ctx *ctx, mv_event *const *events, size_t n, FILE *out);
/* What an event did, in words, for the timeline's last column. */
void ctl_event_detail(const ctl_ctx *ctx, const mv_event *ev, char *buf, size_t cap);
/* "BH-2026-000003 (PS-0007)  流转 → 宋大姐调解工作室  承办 大石头调解工作室" */
void ctl_print_case_line(const ctl_ctx *ctx, const mv_case *c, FILE *out);
/* "  再次纠纷：同一当事人此前的案件 BH-2026-000001、…" when the intake is linked to
 * earlier cases (those the reader may see); nothing otherwise. */
void ctl_print_repeats(const mv_case *c, FILE *out);

/* ---- what a Desk did (cmd_step.c): the reply to a step and to intake ---- */

/* Prints the case and each step the Desk took (nothing if it refused the
 * operator's own step). */
int ctl_render_desk_reply(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply);
/* The exit code of a Desk's reply: its refusal, or what its policy's steps
 * leave (partly done 6, partly applied 7), said on stderr. */
int ctl_desk_reply_exit(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply);

/* ---- the commands (cmd_*.c, cli.c) ---- */

extern const ctl_ops ctl_help_ops, ctl_intake_ops, ctl_step_ops, ctl_inbox_ops, ctl_cases_ops,
    ctl_conflicts_ops, ctl_dismiss_ops, ctl_roster_ops, ctl_show_ops, ctl_list_ops,
    ctl_stuck_ops, ctl_figures_ops, ctl_report_ops, ctl_backup_ops, ctl_verify_ops,
    ctl_access_log_ops, ctl_health_ops, ctl_methods_ops, ctl_user_ops;
/* a cluster of routers (cmd_cluster.c): `cluster status|add|remove|transfer-leader` */
extern const ctl_ops ctl_cluster_ops;
/* documents (cmd_documents.c): `document` and `verify-print` */
extern const ctl_ops ctl_document_ops, ctl_verify_print_ops;
/* The year's report as a PDF at path (cmd_figures.c); year_arg NULL: this year.
 * Its sentences and scorecard, here and in `report`, are documents/'s
 * (documents/report_text.h), shared with the web gateway's download. */
int ctl_report_pdf(ctl_ctx *ctx, const char *year_arg, const char *path);

/* ---- search (cmd_search.c) ---- */

extern const ctl_ops ctl_search_ops;
#define CTL_SEARCH_COLS 8
#define CTL_SEARCH_CELL 256
extern const char *const ctl_search_headers[CTL_SEARCH_COLS];
/* One search hit as the cells of a row (the table, and CSV): id (unit_ref),
 * what matched, state, holder, kind, community, taken in, 再次纠纷 ids. */
void ctl_search_row(const ctl_ctx *ctx, const Mediation__V1__SearchHit *h,
                    char cells[CTL_SEARCH_COLS][CTL_SEARCH_CELL]);

#endif /* CTL_CTL_H */
