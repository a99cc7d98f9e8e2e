/*
 * raftcluster.c - a cluster of routers ([cluster <id>] sections, [storage]
 * mode = raft): the transport raft talks over, who leads, what a follower
 * refuses, and the RouterCluster service. raftlog.c keeps the write path;
 * this file is what a cluster adds to it, so that a single node runs
 * exactly as before.
 *
 * Transport: raft_uv's own TCP (raft_uv_tcp_init), bound at this node's
 * raft_address. No TLS and no authentication on that port: anyone who
 * reaches it can speak raft to the router. It belongs on a private network
 * or VPN, firewalled to the other routers (docs/architecture.md, "The
 * cluster", says why this and not nng).
 *
 * Leadership. raft is polled every 5 ms on its thread (raft 0.15 has no
 * state callback). A node that becomes leader first sends a barrier in its
 * term and makes no entry before it is through: the leader runs its own
 * batches ahead of the commit (raftapply.c) on a store that must already
 * hold every earlier entry, and an earlier term's entries are only known
 * committed - and handed to the applier - once an entry of the new term
 * commits. Reads on the leader wait, in addition, until the applier has
 * applied up to that barrier. A leader that loses leadership (raft_apply's
 * RAFT_LEADERSHIPLOST, RAFT_NOTLEADER) has its ahead transaction dropped
 * and its callers told that the request may or may not be applied and to
 * send it again with the same request id; if a new leader commits that
 * entry, this node applies it as any follower does, exactly once (the
 * idempotency record then answers the resend).
 *
 * Reads on the leader are lease-style: no barrier per read. raft 0.15's
 * leader steps down when it has not heard from a majority for an election
 * timeout (check-quorum), so a deposed leader that did not notice answers
 * reads from a state at most about one election timeout (500 ms, plus
 * clock drift between the nodes' timers) behind the new leader's writes.
 *
 * The view (rl_view) is what raft's thread last saw; the server's here hook
 * (rt_cluster_here), Health and RouterCluster/Status read it from other
 * threads under view_mu.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/i18n.h"
#include "core/log.h"
#include "router/raftnode.h"

/* Loopback and LAN: a follower calls an election after 500-1000 ms without
 * the leader (raft randomizes in [timeout, 2 x timeout]); a split vote
 * costs another such wait; the new leader then serves after one round
 * trip for its barrier - within 3 s of the old one's death. */
#define ELECTION_TIMEOUT_MS 500
#define HEARTBEAT_MS 50
/* How long the leader waits for a follower's answer to its snapshot
 * before it sends it again (see rl_cluster_tune). */
#define INSTALL_SNAPSHOT_TIMEOUT_MS 5000
/* How long TransferLeader waits for the new leader. */
#define TRANSFER_WAIT_MS 5000

/* ---- The transport ----------------------------------------------------------------- */

/* A single node's: there is no one to talk to. */
static int tr_init(struct raft_uv_transport *t, raft_id id, const char *address) { return 0; }
static int tr_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb) { return 0; }
static int tr_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb) {
  return RAFT_NOCONNECTION;
}
static void tr_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb) { cb(t); }

/* A cluster's: raft_uv's TCP with Nagle's algorithm off on every
 * connection. raft 0.15's TCP transport never sets TCP_NODELAY, so a small
 * AppendEntries (or its answer) written behind an unacknowledged one waits
 * for the peer's delayed ACK, 40 ms on Linux: bench_router's three nodes had
 * a p99 of ~45 ms at 16 in flight, ~5 ms with TCP_NODELAY. raft_uv hands
 * user code each stream, accepted or connected, before raft uses it; this
 * transport sits between the two and sets the option there. raft_uv owns
 * `transport.data`; `tcp.data` is ours (the rt_raft). */
static rt_raft *of_tcp(struct raft_uv_transport *tcp) { return tcp->data; }
static rt_raft *of_outer(struct raft_uv_transport *t) {
  return (rt_raft *)((char *)t - offsetof(rt_raft, transport));
}

static void no_delay(struct uv_stream_s *stream) {
  int rv = uv_tcp_nodelay((uv_tcp_t *)stream, 1);
  if (rv != 0) /* slower, not wrong: say so once per connection */
    mc_log(MC_LOG_WARNING, NULL, "raft: TCP_NODELAY not set: %s", uv_strerror(rv));
}

static int nd_init(struct raft_uv_transport *t, raft_id id, const char *address) {
  rt_raft *r = of_outer(t);
  int rv = r->tcp.init(&r->tcp, id, address);
  if (rv != 0)
    snprintf(t->errmsg, sizeof(t->errmsg), "%s", r->tcp.errmsg);
  return rv;
}

static void nd_accepted(struct raft_uv_transport *tcp, raft_id id, const char *address,
                        struct uv_stream_s *stream) {
  rt_raft *r = of_tcp(tcp);
  no_delay(stream);
  r->accept_cb(&r->transport, id, address, stream);
}

static int nd_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb) {
  rt_raft *r = of_outer(t);
  r->accept_cb = cb;
  int rv = r->tcp.listen(&r->tcp, nd_accepted);
  if (rv != 0)
    snprintf(t->errmsg, sizeof(t->errmsg), "%s", r->tcp.errmsg);
  return rv;
}

/* One connect in flight: raft's request (raft owns its data) and the one
 * the TCP transport completes, which brings us back here. Freed when the
 * TCP transport calls back (also when it cancels the connect at close). */
typedef struct nd_pending {
  struct raft_uv_connect inner;
  struct raft_uv_connect *outer;
} nd_pending;

static void nd_connected(struct raft_uv_connect *inner, struct uv_stream_s *stream, int status) {
  nd_pending *c = inner->data;
  struct raft_uv_connect *outer = c->outer;
  free(c);
  if (status == 0)
    no_delay(stream);
  outer->cb(outer, stream, status);
}

static int nd_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb) {
  rt_raft *r = of_outer(t);
  nd_pending *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return RAFT_NOMEM;
  c->inner.data = c;
  c->inner.cb = nd_connected;
  c->outer = req;
  req->cb = cb;
  int rv = r->tcp.connect(&r->tcp, &c->inner, id, address, nd_connected);
  if (rv != 0) {
    snprintf(t->errmsg, sizeof(t->errmsg), "%s", r->tcp.errmsg);
    free(c);
  }
  return rv;
}

static void nd_closed(struct raft_uv_transport *tcp) {
  rt_raft *r = of_tcp(tcp);
  r->close_cb(&r->transport);
}

static void nd_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb) {
  rt_raft *r = of_outer(t);
  r->close_cb = cb;
  r->tcp.close(&r->tcp, nd_closed);
}

mc_code rl_transport_init(rt_raft *r, mc_err *err) {
  if (!r->cluster) {
    r->transport = (struct raft_uv_transport){
        .data = r, .init = tr_init, .listen = tr_listen, .connect = tr_connect, .close = tr_close};
    return MC_OK;
  }
  int rv = raft_uv_tcp_init(&r->tcp, &r->loop);
  if (rv != 0)
    return mc_err_set(err, MC_UNAVAILABLE, _("raft: cannot set up its TCP transport: %s"),
                      raft_strerror(rv));
  r->tcp.data = r;
  r->transport = (struct raft_uv_transport){
      .init = nd_init, .listen = nd_listen, .connect = nd_connect, .close = nd_close};
  r->transport_ready = true;
  return MC_OK;
}

void rl_transport_close(rt_raft *r) {
  if (r->transport_ready)
    raft_uv_tcp_close(&r->tcp);
  r->transport_ready = false;
}

uint64_t rl_self_id(const rt_raft *r) { return r->cluster ? r->rt->node->raft_id : 1; }

const char *rl_self_address(const rt_raft *r) {
  return r->cluster ? r->rt->node->raft_address : "router";
}

int rl_bootstrap_conf(const rt_raft *r, struct raft_configuration *conf) {
  if (!r->cluster)
    return raft_configuration_add(conf, 1, "router", RAFT_VOTER);
  /* Every node bootstraps the same configuration (raft allows it: the
   * same entry 1 everywhere); an existing log refuses (CANTBOOTSTRAP). */
  const mc_registry *reg = r->rt->reg;
  for (size_t i = 0; i < reg->n_nodes; i++) {
    int rv = raft_configuration_add(conf, reg->nodes[i].raft_id, reg->nodes[i].raft_address,
                                    RAFT_VOTER);
    if (rv != 0)
      return rv;
  }
  return 0;
}

mc_code rl_cluster_check(rt_raft *r, mc_err *err) {
  const struct raft_configuration *c = &r->raft.configuration;
  for (unsigned i = 0; i < c->n; i++)
    if (strcmp(c->servers[i].address, "router") == 0)
      /* A single router's log: with it this node would lead a cluster of
       * one, beside the others. */
      return mc_err_set(err, MC_FAILED_PRECONDITION,
                        _("the raft log in %s is a single router's: a node of a cluster starts "
                          "from its own empty data_dir (docs/architecture.md, \"The cluster\")"),
                        r->data_dir);
  return MC_OK;
}

void rl_cluster_tune(rt_raft *r) {
  raft_set_election_timeout(&r->raft, ELECTION_TIMEOUT_MS);
  raft_set_heartbeat_timeout(&r->raft, HEARTBEAT_MS);
  /* Pre-vote (raft's thesis, 9.6): a node cut off from the others - or
   * removed while it was stopped, then started with its old configuration -
   * keeps calling elections; without pre-vote each raises its term, and
   * the first answer it gets once it is back (or added again) carries that
   * term and deposes a working leader. With it, a node raises its term only
   * after a majority said it could win. */
  raft_set_pre_vote(&r->raft, true);
  /* A follower that fell behind catches up from the log as long as the
   * leader still has the entries: keep a checkpoint's worth behind each
   * checkpoint. Further behind, it is sent the snapshot (the checkpoint's
   * store copy) and restarts on it (raftfsm.c, install_and_restart). */
  raft_set_snapshot_trailing(&r->raft, r->checkpoint_entries);
  /* A follower busy with a snapshot of its own refuses the leader's
   * (RAFT_BUSY) without an answer; raft 0.15's leader sends it again only
   * after this timeout (30 s by default). */
  raft_set_install_snapshot_timeout(&r->raft, INSTALL_SNAPSHOT_TIMEOUT_MS);
}

/* ---- Leadership and the view ----------------------------------------------------- */

static void term_barrier_cb(struct raft_barrier *req, int status) {
  rt_raft *r = req->data;
  r->term_barrier_out = false;
  if (status != 0 || raft_state(&r->raft) != RAFT_LEADER ||
      r->raft.current_term != r->term_barrier_term)
    return; /* lost it meanwhile: the next poll starts over */
  pthread_mutex_lock(&r->mu);
  r->term_barrier_index = r->handed;
  pthread_mutex_unlock(&r->mu);
  r->leading = true;
  mc_log(MC_LOG_NOTICE, NULL, "raft: leader of term %" PRIu64 ", taking writes",
         (uint64_t)r->raft.current_term);
  uv_async_send(&r->wake); /* the queued jobs go */
}

/* Leadership as raft has it now: a new term's leader sends its barrier; a
 * node that stopped leading refuses what is queued. */
static void follow_leadership(rt_raft *r) {
  bool leader = raft_state(&r->raft) == RAFT_LEADER;
  if (!leader || r->raft.current_term != r->term_barrier_term) {
    if (r->leading)
      mc_log(MC_LOG_NOTICE, NULL, "raft: no longer the leader (term %" PRIu64 ")",
             (uint64_t)r->raft.current_term);
    r->leading = false;
  }
  if (!leader) {
    rl_refuse_queued(r);
    return;
  }
  if (r->leading || r->term_barrier_out)
    return;
  r->term_barrier_term = r->raft.current_term;
  r->term_barrier.data = r;
  int rv = raft_barrier(&r->raft, &r->term_barrier, term_barrier_cb);
  if (rv == 0)
    r->term_barrier_out = true;
  else
    mc_log(MC_LOG_WARNING, NULL, "raft: the leader's barrier: %s", raft_strerror(rv));
}

static void publish_view(rt_raft *r) {
  rl_view v = {0};
  v.state = raft_state(&r->raft);
  raft_id lid = 0;
  const char *laddr = NULL;
  raft_leader(&r->raft, &lid, &laddr);
  v.leader_id = lid;
  v.term = r->raft.current_term;
  v.last_index = raft_last_index(&r->raft);
  v.commit_index = r->raft.commit_index;
  pthread_mutex_lock(&r->mu);
  v.applied = r->settled;
  bool caught_up = r->settled >= r->term_barrier_index;
  pthread_mutex_unlock(&r->mu);
  v.reads_ready = r->leading && caught_up;
  const struct raft_configuration *c = &r->raft.configuration;
  for (unsigned i = 0; i < c->n && v.n_members < RL_MAX_MEMBERS; i++) {
    rl_member *m = &v.members[v.n_members++];
    m->id = c->servers[i].id;
    snprintf(m->address, sizeof(m->address), "%s", c->servers[i].address);
    m->role = c->servers[i].role;
    if (v.state == RAFT_LEADER && r->raft.leader_state.progress != NULL)
      m->match = r->raft.leader_state.progress[i].match_index;
  }
  pthread_mutex_lock(&r->view_mu);
  r->view = v;
  pthread_mutex_unlock(&r->view_mu);
}

/* The endpoint of node id from the registry; "" if it is not listed. */
static const char *node_endpoint(const rt_router *rt, uint64_t id) {
  const mc_router_node *n = id ? mc_registry_node(rt->reg, id) : NULL;
  return n != NULL && n->endpoint != NULL ? n->endpoint : "";
}

/* Health says which role this node has and who leads: a follower serves
 * (stale reads, redirects), so it is SERVING either way. Only when the
 * role or the leader changes, and not over a failed log's NOT_SERVING. */
static void tell_health(rt_raft *r, const rl_view *v) {
  if (v->state == r->last_health_state && v->leader_id == r->last_health_leader)
    return;
  r->last_health_state = v->state;
  r->last_health_leader = v->leader_id;
  if (r->log_failed || r->rt->server == NULL || atomic_load(&r->rt->stopping))
    return;
  char detail[256];
  if (v->state == RAFT_LEADER)
    snprintf(detail, sizeof(detail), "cluster node %" PRIu64 ": the leader", rl_self_id(r));
  else if (v->leader_id != 0)
    snprintf(detail, sizeof(detail),
             "cluster node %" PRIu64 ": a follower; the leader is node %" PRIu64 " at %.120s",
             rl_self_id(r), v->leader_id, node_endpoint(r->rt, v->leader_id));
  else
    snprintf(detail, sizeof(detail),
             "cluster node %" PRIu64 ": a follower; no leader known (an election is under way)",
             rl_self_id(r));
  rpc_server_set_serving(r->rt->server, true, detail);
  mc_log(MC_LOG_INFO, NULL, "%s", detail);
}

/* ---- RouterCluster's changes, on raft's thread ----------------------------------- */

static void fill_status(rt_router *rt, Mediation__V1__ClusterStatusReply *reply,
                        Mediation__V1__ClusterMember *rows, Mediation__V1__ClusterMember **ptrs);

/* Completes the change in the slot with code (MC_OK: the cluster's status)
 * and frees the slot. Raft's thread, or the caller's at close. */
static void cmd_finish(rt_raft *r, mc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cmd_finish(rt_raft *r, mc_code code, const char *fmt, ...) {
  pthread_mutex_lock(&r->view_mu);
  rpc_call *call = r->cmd.call;
  int kind = r->cmd.kind;
  r->cmd.call = NULL;
  pthread_mutex_unlock(&r->view_mu);
  if (call == NULL)
    return;
  locale_t previous = mc_i18n_use(rpc_call_locale(call));
  if (code != MC_OK) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    rpc_call_fail(call, code, "%s", msg);
  } else if (kind == RL_CMD_TRANSFER) {
    Mediation__V1__TransferLeaderReply reply = MEDIATION__V1__TRANSFER_LEADER_REPLY__INIT;
    pthread_mutex_lock(&r->view_mu);
    reply.leader_id = r->view.leader_id;
    pthread_mutex_unlock(&r->view_mu);
    rpc_call_reply(call, &reply.base);
  } else {
    publish_view(r);
    Mediation__V1__ClusterStatusReply reply = MEDIATION__V1__CLUSTER_STATUS_REPLY__INIT;
    Mediation__V1__ClusterMember rows[RL_MAX_MEMBERS];
    Mediation__V1__ClusterMember *ptrs[RL_MAX_MEMBERS];
    fill_status(r->rt, &reply, rows, ptrs);
    rpc_call_reply(call, &reply.base);
  }
  mc_i18n_restore(previous);
  pthread_mutex_lock(&r->view_mu);
  r->cmd.kind = RL_CMD_NONE;
  r->cmd.started = false;
  pthread_mutex_unlock(&r->view_mu);
}

/* A raft error of a change as the caller's status. */
static void cmd_fail_raft(rt_raft *r, int rv) {
  if (rv == RAFT_CANTCHANGE)
    cmd_finish(r, MC_FAILED_PRECONDITION,
               _("another membership change is under way: try again once it is done"));
  else if (rv == RAFT_NOTLEADER || rv == RAFT_LEADERSHIPLOST)
    cmd_finish(r, MC_UNAVAILABLE,
               _("this router is not the leader (any more): send it again to the leader"));
  else if (rv == RAFT_DUPLICATEID)
    cmd_finish(r, MC_ALREADY_EXISTS, _("node %" PRIu64 " is a member already"), r->cmd.id);
  else if (rv == RAFT_BADID || rv == RAFT_NOTFOUND)
    cmd_finish(r, MC_NOT_FOUND, _("node %" PRIu64 " is not a member of the cluster"), r->cmd.id);
  else
    cmd_finish(r, MC_UNAVAILABLE, _("raft refused the change: %s"), raft_strerror(rv));
}

static void assign_cb(struct raft_change *req, int status) {
  rt_raft *r = req->data;
  if (status != 0)
    cmd_fail_raft(r, status);
  else
    cmd_finish(r, MC_OK, "%s", "");
}

/* The node is in the configuration (added now, or by an earlier AddNode
 * that did not get as far): make it a voter. Already one: done. */
static void assign_voter(rt_raft *r) {
  r->cmd.change.data = r;
  int rv = raft_assign(&r->raft, &r->cmd.change, r->cmd.id, RAFT_VOTER, assign_cb);
  if (rv == RAFT_BADROLE)
    cmd_finish(r, MC_OK, "%s", ""); /* a voter already */
  else if (rv != 0)
    cmd_fail_raft(r, rv);
}

/* Added as a spare: now a voter. raft_assign first lets the new node catch
 * up with the log (rounds of replication), then commits the change. */
static void add_cb(struct raft_change *req, int status) {
  rt_raft *r = req->data;
  if (status != 0)
    cmd_fail_raft(r, status);
  else
    assign_voter(r);
}

static void remove_cb(struct raft_change *req, int status) {
  rt_raft *r = req->data;
  if (status != 0)
    cmd_fail_raft(r, status);
  else
    cmd_finish(r, MC_OK, "%s", "");
}

static void transfer_cb(struct raft_transfer *req) {
  (void)req; /* rl_cluster_poll sees whether leadership moved */
}

void rl_cluster_run_cmd(rt_raft *r) {
  pthread_mutex_lock(&r->view_mu);
  bool go = r->cmd.kind != RL_CMD_NONE && !r->cmd.started;
  r->cmd.started = r->cmd.started || go;
  int kind = r->cmd.kind;
  uint64_t id = r->cmd.id;
  pthread_mutex_unlock(&r->view_mu);
  if (!go)
    return;
  int rv;
  if (raft_state(&r->raft) != RAFT_LEADER) {
    cmd_fail_raft(r, RAFT_NOTLEADER);
    return;
  }
  r->cmd.change.data = r;
  if (kind == RL_CMD_TRANSFER) {
    r->cmd.transfer.data = r;
    rv = raft_transfer(&r->raft, &r->cmd.transfer, id, transfer_cb);
    if (rv == RAFT_NOTFOUND || rv == RAFT_BADID) {
      cmd_finish(r, MC_INVALID_ARGUMENT,
                 _("node %" PRIu64 " is not a voter of the cluster: leadership cannot go to it"),
                 id);
      return;
    }
  } else if (kind == RL_CMD_ADD) {
    const mc_router_node *n = mc_registry_node(r->rt->reg, id);
    rv = raft_add(&r->raft, &r->cmd.change, id, n->raft_address, add_cb);
    if (rv == RAFT_DUPLICATEID) {
      assign_voter(r);
      return;
    }
  } else {
    rv = raft_remove(&r->raft, &r->cmd.change, id, remove_cb);
  }
  if (rv != 0)
    cmd_fail_raft(r, rv);
}

/* A transfer under way: done once another node leads, failed at its deadline. */
static void follow_transfer(rt_raft *r, const rl_view *v) {
  pthread_mutex_lock(&r->view_mu);
  bool waiting = r->cmd.kind == RL_CMD_TRANSFER && r->cmd.started && r->cmd.call != NULL;
  int64_t deadline = r->cmd.deadline_ms;
  pthread_mutex_unlock(&r->view_mu);
  if (!waiting)
    return;
  if (v->leader_id != 0 && v->leader_id != rl_self_id(r))
    cmd_finish(r, MC_OK, "%s", "");
  else if (mc_now_ms() > deadline)
    cmd_finish(r, MC_DEADLINE_EXCEEDED,
               _("leadership did not move within %d ms: the other nodes may be behind or "
                 "unreachable (RouterCluster/Status shows them)"),
               TRANSFER_WAIT_MS);
}

void rl_cluster_poll(rt_raft *r) {
  if (r->closing)
    return;
  follow_leadership(r);
  publish_view(r);
  rl_view v;
  pthread_mutex_lock(&r->view_mu);
  v = r->view;
  pthread_mutex_unlock(&r->view_mu);
  tell_health(r, &v);
  follow_transfer(r, &v);
}

void rl_cluster_close(rt_raft *r) {
  cmd_finish(r, MC_UNAVAILABLE, "%s",
             _("the router is stopping: the change may or may not be made; ask "
               "RouterCluster/Status on the leader"));
}

/* ---- The server's side: the here hook and RouterCluster ------------------------ */

#define CLUSTER_SERVICE "mediation.v1.RouterCluster"

bool rt_cluster_here(void *arg, const char *service, const char *method, rpc_access access,
                     bool stale_ok, rpc_redirect *out) {
  rt_router *rt = arg;
  rt_raft *r = rt->raft;
  if (r == NULL || !r->cluster)
    return true;
  if (strcmp(service, CLUSTER_SERVICE) == 0 && strcmp(method, "Status") == 0)
    return true; /* any node says what it sees */
  if (strcmp(service, "mediation.v1.RouterAdmin") == 0 && strcmp(method, "Backup") == 0)
    return true; /* each node backs up its own store (what it has applied) into its own
                    backup_dir: it writes files, not the store, so a follower may */
  pthread_mutex_lock(&r->view_mu);
  int state = r->view.state;
  uint64_t leader = r->view.leader_id;
  bool reads_ready = r->view.reads_ready;
  pthread_mutex_unlock(&r->view_mu);
  bool read = access == RPC_ACCESS_READ;
  if (state == RAFT_LEADER) {
    if (!read || reads_ready)
      return true; /* writes queue until the term's barrier is through */
    out->why = N_("this router was just elected leader and is still applying the log: try again "
                  "in a moment");
    out->leader_id = 0;
    return false;
  }
  if (read && stale_ok)
    return true;
  out->leader_id = leader;
  snprintf(out->leader_endpoint, sizeof(out->leader_endpoint), "%s", node_endpoint(rt, leader));
  out->why = leader != 0
                 ? N_("this router is not the leader of its cluster: send the request to the "
                      "leader (ReplyEnvelope.leader_id and leader_endpoint), or allow a stale "
                      "read (stale_ok)")
                 : N_("this router is not the leader of its cluster, and no leader is known yet "
                      "(an election is under way): try again shortly");
  return false;
}

static const char *role_name(int role) {
  return role == RAFT_VOTER ? "voter" : role == RAFT_STANDBY ? "standby" : "spare";
}

static const char *state_name(int state) {
  return state == RAFT_LEADER      ? "leader"
         : state == RAFT_FOLLOWER  ? "follower"
         : state == RAFT_CANDIDATE ? "candidate"
                                   : "unavailable";
}

/* The view as a ClusterStatusReply; its strings point into rows and the
 * registry (static storage for the state names): the reply lives as long
 * as the caller's rows and ptrs. */
static void fill_status(rt_router *rt, Mediation__V1__ClusterStatusReply *reply,
                        Mediation__V1__ClusterMember *rows, Mediation__V1__ClusterMember **ptrs) {
  rl_view v;
  rt_raft *r = rt->raft;
  if (r == NULL || !r->cluster) {
    reply->single_node = true;
    reply->state = (char *)"leader";
    return;
  }
  pthread_mutex_lock(&r->view_mu);
  v = r->view;
  pthread_mutex_unlock(&r->view_mu);
  reply->node_id = rl_self_id(r);
  reply->state = (char *)state_name(v.state);
  reply->leader_id = v.leader_id;
  reply->leader_endpoint = (char *)node_endpoint(rt, v.leader_id);
  reply->term = v.term;
  reply->last_log_index = v.last_index;
  reply->commit_index = v.commit_index;
  reply->applied_index = v.applied;
  for (size_t i = 0; i < v.n_members; i++) {
    Mediation__V1__ClusterMember init = MEDIATION__V1__CLUSTER_MEMBER__INIT;
    rows[i] = init;
    rows[i].id = v.members[i].id;
    rows[i].raft_address = v.members[i].address;
    rows[i].endpoint = (char *)node_endpoint(rt, v.members[i].id);
    rows[i].role = (char *)role_name(v.members[i].role);
    rows[i].match_index = v.members[i].match;
    ptrs[i] = &rows[i];
  }
  reply->n_members = v.n_members;
  reply->members = ptrs;
}

static rt_router *router_of(Mediation__V1__RouterCluster_Service *svc) {
  return (rt_router *)((char *)svc - offsetof(rt_router, cluster));
}

/* The reply is on the stack; the server packs it before this returns. */
static void cluster_status(Mediation__V1__RouterCluster_Service *svc,
                           const Mediation__V1__ClusterStatusRequest *in,
                           Mediation__V1__ClusterStatusReply_Closure done, void *call) {
  (void)in;
  Mediation__V1__ClusterStatusReply reply = MEDIATION__V1__CLUSTER_STATUS_REPLY__INIT;
  Mediation__V1__ClusterMember rows[RL_MAX_MEMBERS];
  Mediation__V1__ClusterMember *ptrs[RL_MAX_MEMBERS];
  fill_status(router_of(svc), &reply, rows, ptrs);
  done(&reply, call);
}

/* Puts a change in the slot for raft's thread, which completes the call;
 * false (the call completed here) when there is no cluster or the slot is
 * taken. */
static void post_cmd(rt_router *rt, int kind, uint64_t id, void *call) {
  rt_raft *r = rt->raft;
  if (r == NULL || !r->cluster) {
    rpc_call_fail(call, MC_FAILED_PRECONDITION, "%s",
                  _("this router is not part of a cluster (no [cluster <id>] sections)"));
    return;
  }
  if (kind == RL_CMD_ADD && mc_registry_node(rt->reg, id) == NULL) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT,
                  _("node %" PRIu64 ": no [cluster %" PRIu64 "] in the configuration; add "
                    "the section on every node first"),
                  id, id);
    return;
  }
  if (kind != RL_CMD_TRANSFER && id == 0) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, "%s", _("id: the node's [cluster <id>] is required"));
    return;
  }
  pthread_mutex_lock(&r->view_mu);
  bool busy = r->cmd.kind != RL_CMD_NONE;
  if (!busy) {
    r->cmd.kind = kind;
    r->cmd.started = false;
    r->cmd.id = id;
    r->cmd.call = call;
    r->cmd.deadline_ms = mc_now_ms() + TRANSFER_WAIT_MS;
  }
  pthread_mutex_unlock(&r->view_mu);
  if (busy) {
    rpc_call_fail(call, MC_FAILED_PRECONDITION, "%s",
                  _("another cluster change is under way on this router: try again once it "
                    "is done"));
    return;
  }
  /* rl_cluster_run_cmd; the loop's handles exist until loop_closed. */
  pthread_mutex_lock(&r->mu);
  bool closed = r->loop_closed;
  if (!closed)
    uv_async_send(&r->wake);
  pthread_mutex_unlock(&r->mu);
  if (closed)
    rl_cluster_close(r);
}

static void cluster_transfer_leader(Mediation__V1__RouterCluster_Service *svc,
                                    const Mediation__V1__TransferLeaderRequest *in,
                                    Mediation__V1__TransferLeaderReply_Closure done, void *call) {
  (void)done;
  post_cmd(router_of(svc), RL_CMD_TRANSFER, in->to_id, call);
}

static void cluster_add_node(Mediation__V1__RouterCluster_Service *svc,
                             const Mediation__V1__AddNodeRequest *in,
                             Mediation__V1__ClusterStatusReply_Closure done, void *call) {
  (void)done;
  post_cmd(router_of(svc), RL_CMD_ADD, in->id, call);
}

static void cluster_remove_node(Mediation__V1__RouterCluster_Service *svc,
                                const Mediation__V1__RemoveNodeRequest *in,
                                Mediation__V1__ClusterStatusReply_Closure done, void *call) {
  (void)done;
  post_cmd(router_of(svc), RL_CMD_REMOVE, in->id, call);
}

void rt_cluster_init(rt_router *rt) {
  Mediation__V1__RouterCluster_Service init = MEDIATION__V1__ROUTER_CLUSTER__INIT(cluster_);
  rt->cluster = init;
}
