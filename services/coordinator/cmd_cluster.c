/*
 * cmd_cluster.c - `mediactl cluster`: a cluster of routers' state, its
 * membership and its leadership (mediation.v1.RouterCluster).
 *
 * status asks every node of the registry's [cluster <id>] sections for its
 * own view, each on a client of its own (the list client would only ever
 * reach one), so one table shows which node leads, in which term, and how
 * far each has applied the log; a node that does not answer is shown as
 * such and makes the exit code 4. With --node N only that node is asked;
 * with a single router, the router says it is one (single_node). The
 * changes - add, remove, transfer-leader - go through the ordinary router
 * client, which follows the leader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "pbjson/pbjson.h"
#include "services/coordinator/ctl.h"

enum { CL_STATUS, CL_ADD, CL_REMOVE, CL_TRANSFER };

typedef struct cluster_state {
  int action;
  uint64_t id; /* add/remove: the node; transfer-leader: to whom (0: raft chooses) */
} cluster_state;

static int cluster_check(ctl_ctx *ctx, void *st) {
  cluster_state *s = st;
  static const char *const names[] = {"status", "add", "remove", "transfer-leader"};
  s->action = -1;
  for (int i = 0; i < 4; i++)
    if (strcmp(ctx->args[0], names[i]) == 0)
      s->action = i;
  if (s->action < 0)
    return ctl_usage_error(ctx, _("unknown action \"%.40s\": expected status, add ID, remove ID "
                                  "or transfer-leader [ID]"),
                           ctx->args[0]);
  bool takes = s->action != CL_STATUS, needs = s->action == CL_ADD || s->action == CL_REMOVE;
  if (ctx->n_args > 1 && !takes)
    return ctl_usage_error(ctx, _("cluster status takes no ID (for one node: --node N)"));
  if (ctx->n_args < 2 && needs)
    return ctl_usage_error(ctx, _("cluster %s needs the node's ID (its [cluster ID] section)"),
                           ctx->args[0]);
  if (ctx->n_args > 1) {
    long id;
    if (ctl_parse_long(ctx->args[1], 1, 65535, &id) != 0)
      return ctl_usage_error(ctx, _("ID: expected a router's id, a number from 1 to 65535"));
    s->id = (uint64_t)id;
  }
  return CTL_EXIT_OK;
}

static const char *state_label(const char *state) {
  if (strcmp(state, "leader") == 0)
    return "主节点";
  if (strcmp(state, "follower") == 0)
    return "从节点";
  if (strcmp(state, "candidate") == 0)
    return "候选";
  if (strcmp(state, "unavailable") == 0)
    return "不可用";
  return state;
}

static const char *role_label(const char *role) {
  if (strcmp(role, "voter") == 0)
    return "投票成员";
  if (strcmp(role, "standby") == 0)
    return "候补";
  if (strcmp(role, "spare") == 0)
    return "备用";
  return role;
}

/* What one node said about itself: its reply (the caller's), or why not. */
typedef struct node_view {
  uint64_t id;          /* 0: the single router */
  const char *endpoint; /* borrowed from the registry, or the client's URL */
  Mediation__V1__ClusterStatusReply *reply;
  mc_code code;
  char why[300];
} node_view;

/* Asks one node for its view, on a client of its own (stale_ok: any node
 * answers for itself). */
static void ask_node(ctl_ctx *ctx, node_view *v) {
  rpc_client_opts opts = {
      .default_timeout_ms = ctx->timeout_ms,
      .max_in_flight = 1,
      .fail_when_refused = true,
      .tls_ca_file = ctx->reg->router.tls_ca,
      .tls_server_name = ctx->reg->router.tls_server_name,
  };
  rpc_client *c = NULL;
  mc_err err;
  mc_err_clear(&err);
  v->code = rpc_client_create(v->endpoint, ctx->key, &ctx->reg->limits, &opts, &c, &err);
  if (v->code == MC_OK) {
    Mediation__V1__ClusterStatusRequest req = MEDIATION__V1__CLUSTER_STATUS_REQUEST__INIT;
    ProtobufCMessage *out = NULL;
    v->code = rpc_client_call(c, &mediation__v1__router_cluster__descriptor, "Status", &req.base,
                              &(rpc_call_opts){.timeout_ms = ctx->timeout_ms, .stale_ok = true},
                              &out, &err);
    if (v->code == MC_OK)
      v->reply = (Mediation__V1__ClusterStatusReply *)out;
  }
  if (v->code != MC_OK)
    snprintf(v->why, sizeof(v->why), "%s: %.250s", mc_code_name(v->code), err.msg);
  rpc_client_free(c);
}

static void print_nodes(const ctl_ctx *ctx, const node_view *views, size_t n) {
  (void)ctx;
  static const char *const headers[] = {"节点", "地址", "状态", "任期", "已应用", "最新日志", "主节点"};
  ctl_table *t = ctl_table_new(7, headers, "lllrrrl");
  for (size_t i = 0; i < n; i++) {
    const node_view *v = &views[i];
    char id[24], term[CTL_FMT_MAX], applied[CTL_FMT_MAX], last[CTL_FMT_MAX], leader[32];
    const Mediation__V1__ClusterStatusReply *r = v->reply;
    if (r != NULL && r->single_node)
      snprintf(id, sizeof(id), "%s", "单节点");
    else
      snprintf(id, sizeof(id), "%llu",
               (unsigned long long)(r != NULL && r->node_id ? r->node_id : v->id));
    if (r == NULL) {
      bool unreachable = ctl_exit_for(v->code) == CTL_EXIT_UNREACHABLE;
      const char *cells[] = {id, v->endpoint, unreachable ? "不可达" : "拒绝", "—", "—", "—", "—"};
      ctl_table_add(t, cells);
      continue;
    }
    ctl_fmt_int((int64_t)r->term, term);
    ctl_fmt_int((int64_t)r->applied_index, applied);
    ctl_fmt_int((int64_t)r->last_log_index, last);
    if (r->single_node)
      snprintf(leader, sizeof(leader), "%s", "—");
    else if (r->leader_id == 0)
      snprintf(leader, sizeof(leader), "%s", "无（选举中）");
    else
      snprintf(leader, sizeof(leader), "%llu", (unsigned long long)r->leader_id);
    const char *cells[] = {id,      v->endpoint, r->single_node ? "主节点" : state_label(r->state),
                           term,    applied,     last,
                           leader};
    ctl_table_add(t, cells);
  }
  ctl_table_print(t, stdout);
  ctl_table_free(t);
}

/* The nodes as JSON: each reply as the other commands print replies, or
 * {"node_id", "endpoint", "error"} for a node that did not answer. */
static int print_nodes_json(const node_view *views, size_t n) {
  json_object *all = json_object_new_object(), *arr = json_object_new_array();
  if (all == NULL || arr == NULL) {
    json_object_put(all);
    json_object_put(arr);
    return ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
  }
  for (size_t i = 0; i < n; i++) {
    json_object *o;
    if (views[i].reply != NULL) {
      o = pj_from_message(&views[i].reply->base);
    } else {
      o = json_object_new_object();
      if (o != NULL) {
        json_object_object_add(o, "node_id", json_object_new_uint64(views[i].id));
        json_object_object_add(o, "endpoint", json_object_new_string(views[i].endpoint));
        json_object_object_add(o, "error", json_object_new_string(views[i].why));
      }
    }
    if (o != NULL)
      json_object_array_add(arr, o);
  }
  json_object_object_add(all, "nodes", arr);
  return ctl_json_print(all);
}

static int cluster_status(ctl_ctx *ctx) {
  int rc = ctl_connect(ctx, false); /* the configuration and the key */
  if (rc != CTL_EXIT_OK)
    return rc;
  const mc_registry *reg = ctx->reg;
  size_t n = reg->n_nodes ? reg->n_nodes : 1;
  node_view *views = calloc(n, sizeof(*views));
  const char **urls = calloc(n, sizeof(*urls));
  if (views == NULL || urls == NULL) {
    free(views);
    free(urls);
    return ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
  }
  mc_registry_router_endpoints(reg, urls, n);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *url = urls[i];
    uint64_t id = 0;
    for (size_t j = 0; j < reg->n_nodes; j++)
      if (strcmp(reg->nodes[j].endpoint, url) == 0)
        id = reg->nodes[j].raft_id;
    if (ctx->node != 0 && id != ctx->node)
      continue;
    views[k].id = id;
    views[k].endpoint = url;
    ask_node(ctx, &views[k]);
    k++;
  }
  /* The exit code: 4 if a router did not answer; else a refusal's own
   * (an older router without RouterCluster: UNIMPLEMENTED, 3). */
  unsigned missing = 0;
  int worst = CTL_EXIT_OK;
  for (size_t i = 0; i < k; i++) {
    if (views[i].reply != NULL)
      continue;
    missing++;
    int e = ctl_exit_for(views[i].code);
    if (worst == CTL_EXIT_OK || e == CTL_EXIT_UNREACHABLE)
      worst = e;
  }
  if (ctx->json) {
    rc = print_nodes_json(views, k);
  } else {
    print_nodes(ctx, views, k);
    for (size_t i = 0; i < k; i++) {
      if (views[i].reply == NULL && ctl_exit_for(views[i].code) == CTL_EXIT_UNREACHABLE)
        fprintf(stderr, _("mediactl: node %llu (%s) did not answer: %s\n"),
                (unsigned long long)views[i].id, views[i].endpoint, views[i].why);
      else if (views[i].reply == NULL)
        fprintf(stderr, _("mediactl: node %llu (%s) refused: %s\n"),
                (unsigned long long)views[i].id, views[i].endpoint, views[i].why);
    }
  }
  for (size_t i = 0; i < k; i++)
    if (views[i].reply != NULL)
      protobuf_c_message_free_unpacked(&views[i].reply->base, NULL);
  free(views);
  free(urls);
  if (rc == CTL_EXIT_OK && missing > 0)
    rc = ctl_fail(worst, _("%u of %zu routers gave no status"), missing, k);
  return rc;
}

/* The membership as the leader sees it after a change. */
static void print_members(const ctl_ctx *ctx, const Mediation__V1__ClusterStatusReply *r) {
  (void)ctx;
  static const char *const headers[] = {"节点", "角色", "地址", "raft 地址", "已复制"};
  ctl_table *t = ctl_table_new(5, headers, "lllll");
  for (size_t i = 0; i < r->n_members; i++) {
    const Mediation__V1__ClusterMember *m = r->members[i];
    char id[24], match[CTL_FMT_MAX];
    snprintf(id, sizeof(id), "%llu", (unsigned long long)m->id);
    if (m->match_index != 0)
      ctl_fmt_int((int64_t)m->match_index, match);
    else
      snprintf(match, sizeof(match), "%s", "—");
    const char *cells[] = {id, role_label(m->role), m->endpoint[0] ? m->endpoint : "—",
                           m->raft_address, match};
    ctl_table_add(t, cells);
  }
  ctl_table_print(t, stdout);
  ctl_table_free(t);
}

static int cluster_change(ctl_ctx *ctx, cluster_state *s) {
  if (s->action == CL_ADD) {
    int rc = ctl_load(ctx);
    if (rc != CTL_EXIT_OK)
      return rc;
    if (mc_registry_node(ctx->reg, s->id) == NULL)
      return ctl_usage_error(ctx, _("the configuration has no [cluster %llu]: add its section "
                                    "(endpoint, raft_address) on every machine first"),
                             (unsigned long long)s->id);
  }
  int rc = ctl_connect(ctx, false);
  if (rc != CTL_EXIT_OK)
    return rc;
  ProtobufCMessage *out = NULL;
  Mediation__V1__AddNodeRequest add = MEDIATION__V1__ADD_NODE_REQUEST__INIT;
  Mediation__V1__RemoveNodeRequest rem = MEDIATION__V1__REMOVE_NODE_REQUEST__INIT;
  Mediation__V1__TransferLeaderRequest tr = MEDIATION__V1__TRANSFER_LEADER_REQUEST__INIT;
  const ProtobufCServiceDescriptor *svc = &mediation__v1__router_cluster__descriptor;
  if (s->action == CL_ADD) {
    add.id = s->id;
    rc = ctl_call(ctx, svc, "AddNode", &add.base, &out);
  } else if (s->action == CL_REMOVE) {
    rem.id = s->id;
    rc = ctl_call(ctx, svc, "RemoveNode", &rem.base, &out);
  } else {
    tr.to_id = s->id;
    rc = ctl_call(ctx, svc, "TransferLeader", &tr.base, &out);
  }
  if (rc != CTL_EXIT_OK)
    return rc;
  if (ctx->json) {
    rc = ctl_json_print_message(out);
  } else if (s->action == CL_TRANSFER) {
    const Mediation__V1__TransferLeaderReply *t = (const Mediation__V1__TransferLeaderReply *)out;
    const mc_router_node *node = mc_registry_node(ctx->reg, t->leader_id);
    printf("主节点现在是节点 %llu%s%s%s\n", (unsigned long long)t->leader_id,
           node != NULL ? "（" : "", node != NULL ? node->endpoint : "", node != NULL ? "）" : "");
  } else {
    const Mediation__V1__ClusterStatusReply *r = (const Mediation__V1__ClusterStatusReply *)out;
    printf("%s节点 %llu；主节点 %llu，任期 %llu\n", s->action == CL_ADD ? "已加入" : "已移除",
           (unsigned long long)s->id, (unsigned long long)r->leader_id,
           (unsigned long long)r->term);
    print_members(ctx, r);
  }
  protobuf_c_message_free_unpacked(out, NULL);
  return rc;
}

static int cluster_run(ctl_ctx *ctx, void *st) {
  cluster_state *s = st;
  return s->action == CL_STATUS ? cluster_status(ctx) : cluster_change(ctx, s);
}

const ctl_ops ctl_cluster_ops = {
    .state_size = sizeof(cluster_state),
    .args = N_("ACTION [ID] (status, add ID, remove ID, transfer-leader [ID])"),
    .max_args = 2,
    .check = cluster_check,
    .run = cluster_run,
};
