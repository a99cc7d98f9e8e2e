/*
 * run.c - the one runner every command goes through: parse (the command's
 * options, then its argument), build its request, call the service, print
 * the reply as JSON or as the command's table, and give the exit code.
 *
 * The commands differ only in their ops (ctl.h): what options they take,
 * what request they build and how they print the reply, so none of them
 * repeats the getopt loop, the connection or the printing of --json.
 * ctl_main checks the command's target (--unit) between the two halves,
 * once for every command.
 */
#include <stdlib.h>

#include "services/coordinator/ctl.h"

bool ctl_wants_desk(const ctl_ctx *ctx) {
  return ctx->cmd->target == CTL_DESK || (ctx->cmd->target == CTL_EITHER && ctx->unit_arg != NULL);
}

/* 1 to ops->max_args arguments into ctx->args. Too many are not echoed: the
 * extra one may be a password typed where it does not belong. */
static int several_args(ctl_ctx *ctx, int argc, char **argv, const ctl_ops *ops) {
  int have = argc - optind, max = ops->max_args < CTL_ARGS_MAX ? ops->max_args : CTL_ARGS_MAX;
  if (have < 1)
    return ctl_usage_error(ctx, "expected %s", ops->args);
  if (have > max)
    return ctl_usage_error(ctx, "too many arguments: expected %s", ops->args);
  for (int i = 0; i < have; i++)
    ctx->args[i] = argv[optind + i];
  ctx->n_args = have;
  ctx->arg = ctx->args[0];
  return CTL_EXIT_OK;
}

int ctl_parse_command(ctl_ctx *ctx, void *st, int argc, char **argv) {
  static const struct option none[] = {{NULL, 0, NULL, 0}};
  const ctl_ops *ops = ctx->cmd->ops;
  if (ops->init != NULL)
    ops->init(ctx, st);
  const struct option *opts = ops->options_of ? ops->options_of(ctx, st) : ops->options;
  int c, rc;
  while ((c = ctl_getopt(ctx, argc, argv, opts ? opts : none)) != -1) {
    if (c == CTL_OPT_HELP)
      return CTL_OPT_HELP;
    if (c == CTL_OPT_ERROR)
      return CTL_EXIT_USAGE;
    rc = ops->option ? ops->option(ctx, st, c, optarg) : CTL_EXIT_USAGE;
    if (rc != CTL_EXIT_OK)
      return rc;
  }
  if (ops->options_done != NULL && (rc = ops->options_done(ctx, st)) != CTL_EXIT_OK)
    return rc;
  if (ops->args == NULL)
    rc = ctl_positionals(ctx, argc, argv, 0, NULL, "no arguments");
  else if (ops->args_optional && argc == optind)
    rc = CTL_EXIT_OK;
  else if (ops->max_args > 1)
    rc = several_args(ctx, argc, argv, ops);
  else
    rc = ctl_positionals(ctx, argc, argv, 1, &ctx->arg, ops->args);
  if (rc != CTL_EXIT_OK)
    return rc;
  return ops->check ? ops->check(ctx, st) : CTL_EXIT_OK;
}

int ctl_execute(ctl_ctx *ctx, void *st) {
  const ctl_ops *ops = ctx->cmd->ops;
  if (ops->run != NULL)
    return ops->run(ctx, st);
  ctl_request req = {0};
  int rc = ops->build(ctx, st, &req);
  if (rc != CTL_EXIT_OK)
    return rc;
  if ((rc = ctl_connect(ctx, ctl_wants_desk(ctx))) != CTL_EXIT_OK)
    return rc;
  ProtobufCMessage *reply = NULL; /* ours: freed below */
  if ((rc = ctl_call(ctx, req.service, req.method, req.message, &reply)) != CTL_EXIT_OK)
    return rc;
  if (ctx->json || ops->render == NULL)
    rc = ctl_json_print_message(reply);
  else
    rc = ops->render(ctx, st, reply);
  if (rc == CTL_EXIT_OK && ops->verdict != NULL)
    rc = ops->verdict(ctx, st, reply);
  protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}
