/*
 * support.h - what the rpc tests share: a throwaway deployment (keys,
 * registry, temp dir) and the Echo test service (proto/mediation/v1/testing.proto).
 */
#ifndef RPC_TEST_SUPPORT_H
#define RPC_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/registry.h"
#include "mediation/v1/testing.pb-c.h"
#include "rpc/rpc.h"

/* A deployment in a temp dir: two units, a coordinator, an operator of the
 * police studio, and an intruder whose key is in no registry. */
typedef struct rt_env {
  char dir[256];
  rpc_key *police, *marriage, *coord, *op, *intruder;
  mc_registry *reg;
} rt_env;

/* limits: extra lines for [limits] (may be ""). Fails the test on error. */
void rt_env_init(rt_env *e, const char *limits);
/* Frees and removes the temp dir and what is in it. Safe on a zeroed env. */
void rt_env_free(rt_env *e);

/* "<dir>/<name>" into buf. */
const char *rt_path(const rt_env *e, const char *name, char *buf, size_t cap);

/* The Echo service. Register &rt_echo.base. A request with sleep_ms replies
 * that much later (from a thread when async; inline otherwise); with tag
 * RT_TAG_SLOW_ONCE only the first sight of its request id is slow. */
#define RT_TAG_SLOW_ONCE 0xE7E7u
extern Mediation__V1__Echo_Service rt_echo;

void rt_echo_reset(void);
unsigned rt_echo_runs(void);                    /* handler entries since reset */
unsigned rt_echo_seen(const uint8_t *rid);      /* times this request id was seen */
void rt_echo_wait_idle(void);                   /* async replies all sent */
unsigned rt_echo_peak(void);                    /* most async handlers pending at once */
/* From now on, slow async requests wait (up to their sleep_ms) until n
 * handlers are pending at once, then all go; reset by rt_echo_reset. */
void rt_echo_hold(unsigned n);

/* Calls Echo/Echo with req on c; returns the code; *out gets the reply (free
 * with protobuf_c_message_free_unpacked) when OK; msg (if not NULL, 256 bytes)
 * the status text. */
mc_code rt_echo_call(rpc_client *c, const Mediation__V1__EchoRequest *req,
                     const rpc_call_opts *opts, Mediation__V1__EchoReply **out, char *msg);

/* Runs argv (argv[0] a path) with posix_spawn and waits; returns its exit
 * status, or -1. stdout goes to out_path if not NULL. */
int rt_run(char *const argv[], const char *out_path);

/* Raw SP over a stream socket, no nng: connects to url (ipc:// or
 * tcp://127.0.0.1:PORT) with SO_RCVBUF rcvbuf (0: the default) and does the
 * REQ v0 handshake; 2 s send and receive timeouts. Fails the test on error. */
int rt_sp_connect(const char *url, int rcvbuf);
/* Writes a message header announcing len bytes (ipc: the transport's type
 * byte first). False if the write failed or stalled. */
bool rt_sp_send_header(int fd, bool ipc, uint64_t len);
/* Writes one request: header, REQ request id, body. */
bool rt_sp_send(int fd, bool ipc, uint32_t req_id, const uint8_t *b, size_t n);
/* Reads one reply: its body after the REQ request id into *body (malloc'd,
 * the caller frees it), its length into *n. 1: a reply; 0: the server
 * closed the connection; -1: nothing within the 2 s timeout, or an error. */
int rt_sp_recv(int fd, bool ipc, uint8_t **body, size_t *n);

#endif
