/*
 * raftlog.h - what router/raftlog.c shares with its two helpers:
 * raftfiles.c (the boot id, raft-boot, checkpoints and the rebuild: the
 * files that make an unsynced store safe) and raftcodec.c (a batch of jobs
 * as a raft entry and back). See raftlog.c for the design.
 */
#ifndef RT_RAFTLOG_H
#define RT_RAFTLOG_H

#include <stdint.h>

#include <raft.h>

#include "router/internal.h"

/* raftfiles.c */
/* A small text file's first line; NOT_FOUND when it does not exist. */
mc_code rl_read_small(const char *path, char *buf, size_t cap, mc_err *err);
/* Writes dir/name durably: temporary file, fsync, rename, fsync of dir. */
mc_code rl_write_durable(const char *dir, const char *name, const char *text, mc_err *err);
/* The kernel's boot id, or MEDIATION_BOOT_ID_FILE's content (tests only). */
mc_code rl_boot_id(char out[64], mc_err *err);
/* <data_dir>/raft-boot := "<boot id> <how>" (running or clean). */
mc_code rl_mark_boot(const char *data_dir, const char *boot_id, const char *how, mc_err *err);
/* The newest checkpoint's index; NOT_FOUND if none was made. */
mc_code rl_checkpoint_current(const char *data_dir, uint64_t *out, mc_err *err);
/* Copies the store (compacted, synced) to checkpoint/<index>, makes it
 * CURRENT, drops the older copies. */
mc_code rl_checkpoint_make(st_store *store, const char *data_dir, uint64_t index, mc_err *err);
/* Replaces data_dir/data.mdb (store closed) with checkpoint <index>'s copy. */
mc_code rl_rebuild(const char *data_dir, uint64_t index, mc_err *err);
/* The store's raft_applied. */
mc_code rl_store_applied(st_store *store, uint64_t *out, mc_err *err);

/* A cluster's raft snapshot: the checkpoint <index>'s store copy behind
 * its index (8 bytes, big-endian), raft_malloc'd (raft frees it). */
mc_code rl_checkpoint_read(const char *data_dir, uint64_t index, struct raft_buffer *out,
                           mc_err *err);
/* Writes a snapshot's store copy (len bytes) as checkpoint <index>,
 * durably, and makes it CURRENT: the next start rebuilds the store from
 * it (the store is then older than the checkpoint). */
mc_code rl_checkpoint_install(const char *data_dir, uint64_t index, const void *store,
                              size_t len, mc_err *err);

/* raftzero.c: raft's segments in dir ("<data_dir>/raft") are zero-filled
 * when raft_uv allocates them; NULL: none any more. */
void rl_zero_dir(const char *dir);

/* raftcodec.c */
/* The entry of a batch (raft_malloc'd, a multiple of 8 bytes long). */
mc_code rl_encode(uint64_t token, rt_job **jobs, size_t n, struct raft_buffer *out, mc_err *err);
/* The token an entry was made with; 0 if it is not one of ours. */
uint64_t rl_entry_token(const struct raft_buffer *buf);
/* An entry back into jobs with no call (a replay); free with rl_free_replayed. */
mc_code rl_decode(rt_router *rt, const struct raft_buffer *buf, rt_job ***out, size_t *n_out,
                  mc_err *err);
void rl_free_replayed(rt_job **jobs, size_t n);

#endif /* RT_RAFTLOG_H */
