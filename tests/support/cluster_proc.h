/*
 * cluster_proc.h - what the tests that run three mediation-router processes
 * as one cluster share (tests/services/test_cluster_units.c,
 * tests/router/test_router_cluster_netns.c): the nodes started (each
 * optionally behind a command prefix, e.g. `ip netns exec NS`), and a client
 * that speaks the wire protocol itself (nng REQ, a signed envelope, plain
 * tcp or tls+tcp) so that it sees ReplyEnvelope.leader_id and can set
 * RequestEnvelope.stale_ok: Status, the leader, a take-in that follows the
 * leader, a case's bytes, Verify, "every node applied the same log".
 * The one copy of these for test_router_cluster.c, test_router_seed.c and
 * tests/mediactl/test_mediactl_cluster.c too (each had its own before;
 * what only one test checks stays in that test). Prefix tc_ ("test
 * cluster").
 *
 * Everything but tc_setup_conf fails the running cmocka test on an error.
 */
#ifndef TC_CLUSTER_PROC_H
#define TC_CLUSTER_PROC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>

#include "mv1.h"
#include "world.h"

#define TC_NODES 3

typedef struct tc_cluster {
  tw_world *w;
  th_proc nodes[TC_NODES];
  char endpoints[TC_NODES][96];
  /* Run node i as `<prefix[i]...> mediation-router ...` (NULL: directly). */
  const char *prefix[TC_NODES][8];
  /* tls+tcp endpoints: the CA file and the name the certificate carries. */
  char tls_ca[TH_PATH_MAX];
  char tls_name[64];
  /* The configuration the nodes start with (tc_setup_conf sets it). */
  char conf[TH_PATH_MAX + 64];
  /* A test that stops nodes while other threads take cases in keeps
   * track_down true and down's bit i set while it has node i stopped:
   * tc_take_in then skips node i by that bit rather than by th_running,
   * which reaps the process and so must not run in two threads at once. */
  bool track_down;
  atomic_int down;
  /* tc_supervise's count of the nodes it started again after they
   * stopped themselves on the leader's snapshot, and per node how many
   * such stops its log showed when it last looked. */
  int restarts_75;
  int exits_75_seen[TC_NODES];
  /* The reads that fail on a reply other than OK (tc_get_case,
   * tc_list_cases, tc_expect_verify_clean) ask again for up to this long
   * while the node answers UNAVAILABLE (0: not at all): a node just
   * elected does so until it has applied the log, even to a stale_ok
   * read. */
  int unavailable_wait_ms;
} tc_cluster;

/* One REQ socket per node (a REQ socket has one request out): one per
 * thread. Zero-initialise; tc_conn_close at the end. */
typedef struct tc_conn {
  const tc_cluster *cl;
  nng_socket s[TC_NODES];
  bool open[TC_NODES];
} tc_conn;

/* Appends text (verbatim, e.g. "\n[storage]\nmode = raft\n") and the
 * three [cluster <id>] sections to the config file conf (client endpoints
 * `<scheme>://<host[i]>:<free port>`, raft on raft_host[i]:<free port>,
 * data dirs <w's directory>/node<id>; host or raft_host NULL: 127.0.0.1
 * for all), fills cl's endpoints and the conf the nodes start with, and
 * when conf is w's own config reloads w's registry. Ports are free on
 * 127.0.0.1 when picked (a fresh network namespace has them all free).
 * 0 or -1 (message on stderr): for setups. */
int tc_setup_conf_in(tc_cluster *cl, tw_world *w, const char *conf, const char *text,
                     const char *scheme, const char *const host[TC_NODES],
                     const char *const raft_host[TC_NODES]);

/* tc_setup_conf_in on w's config with [storage] mode = raft and a
 * checkpoint every 256 entries. */
int tc_setup_conf(tc_cluster *cl, tw_world *w, const char *scheme, const char *const host[TC_NODES],
                  const char *const raft_host[TC_NODES]);

/* Starts node i (mediation-router --config <cl's conf> --node i+1) and
 * waits for it to be ready. 0 or -1. */
int tc_start_node(tc_cluster *cl, int i);

/* What systemd's Restart= does in production, for a test that keeps
 * cl->down: a node that is not running though the test did not stop it
 * must have stopped itself to install the leader's snapshot (exit 75,
 * "exiting 75" in its log; raft 0.15 may send a snapshot to a follower
 * that was down only briefly): it is started again and counted in
 * restarts_75. Anything else is a crash: the test fails. */
void tc_supervise(tc_cluster *cl);

/* Sends service/method(msg) as principal to node i (signed, stale_ok as
 * given, request id rid or fresh when NULL); the reply envelope (free with
 * mediation__v1__reply_envelope__free_unpacked), or NULL when the node
 * did not answer within timeout_ms. */
Mediation__V1__ReplyEnvelope *tc_call(tc_conn *c, int i, const char *principal,
                                      const char *service, const char *method,
                                      const ProtobufCMessage *msg, bool stale_ok,
                                      const uint8_t *rid, int timeout_ms);
void tc_conn_close(tc_conn *c);

/* RouterCluster/Status of node i, or NULL (no answer). Caller frees. */
Mediation__V1__ClusterStatusReply *tc_status(tc_conn *c, int i);

/* The running node that says it leads (index), or -1; skip: not asked. */
int tc_find_leader(tc_conn *c, int skip);

/* The index of a node that leads, waited for up to ms; -1 if none did. */
int tc_await_leader(tc_conn *c, int skip, int ms);

/* Before a kill, for a test that keeps cl->down: every node answers
 * (tc_supervise starting again one that stopped on a snapshot), one says
 * it leads and all name the same leader, and the followers have applied
 * within 64 entries of one another (so the two left after a kill make a
 * quorum with a log to elect from); fails the test after ms. */
void tc_await_settled(tc_conn *c, int ms);

/* Stops every node (at the end of a test; 20 s each at the most). */
void tc_stop_nodes(tc_cluster *cl);

/* The case id of an OK reply to an Apply that took a case in. */
void tc_applied_case_id(const Mediation__V1__ReplyEnvelope *env, char case_id[64]);

/* A take-in as unit with unit_ref ref and request id rid, sent again until
 * OK: to *leader, then where a refusal points, else to the next running
 * node. OK: true, the case id in case_id and *leader the node that
 * answered; false after give_up_ms. */
bool tc_take_in(tc_conn *c, int *leader, const char *unit, const char *ref, const uint8_t rid[16],
                int give_up_ms, char case_id[64]);

/* GetCase of case_ref on node i (stale_ok, with its timeline: the whole
 * case file). Caller frees. */
Mediation__V1__GetCaseReply *tc_get_case(tc_conn *c, int i, const char *case_ref);

/* tc_get_case's reply packed (the record and every event, as node i holds
 * them), or with record_only the case record alone (Mediation__V1__Case,
 * no timeline); malloc'd. */
uint8_t *tc_case_bytes(tc_conn *c, int i, const char *case_ref, bool record_only, size_t *len);

/* ListCases of holder on node i (stale_ok, one page of page_size, with the
 * total). Caller frees. */
Mediation__V1__ListCasesReply *tc_list_cases(tc_conn *c, int i, const char *holder,
                                             int page_size);

/* How many cases holder has on node i (ListCases' total, which must be
 * exact). */
uint64_t tc_case_count(tc_conn *c, int i, const char *holder);

/* RouterAdmin/Verify on node i (stale_ok) is clean. */
void tc_expect_verify_clean(tc_conn *c, int i);

/* Every node has applied the same last index twice in a row (no write
 * under way), within ms. */
void tc_await_same_applied(tc_conn *c, int ms);

/* Every case of the holders on node 0 is byte-identical on the others
 * (the lists equal too); returns how many cases were compared. */
int tc_expect_identical(tc_conn *c, const char *const *holders, int n_holders);

void tc_sleep_ms(int ms);

#endif /* TC_CLUSTER_PROC_H */
