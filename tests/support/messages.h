/*
 * messages.h - every message descriptor of the contract, listed at build
 * time from protoc-c's headers (list_messages.cmake), for the tests that must
 * cover each message type, including ones added later: one generated list
 * shared by tests/proto and tests/pbjson instead of a list kept by hand;
 * and a message of any of them with every field set, filled from its
 * descriptor. Link mediation_test_messages.
 */
#ifndef TM_MESSAGES_H
#define TM_MESSAGES_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

extern const ProtobufCMessageDescriptor *const tm_all_messages[];
extern const size_t tm_n_messages;

/* A message of type d with every field set to a value that is not its
 * default (messages_fill.c); each oneof has its (round mod size)-th member
 * set, and repeated fields two elements. Owned by the caller: free with
 * protobuf_c_message_free_unpacked(m, NULL) (filled with malloc, like an
 * unpacked message). */
ProtobufCMessage *tm_new_filled(const ProtobufCMessageDescriptor *d, unsigned round);

/* How many rounds set every member of every oneof of d at least once. */
unsigned tm_rounds(const ProtobufCMessageDescriptor *d);

/* Whether field i of d (a oneof member) is the one set in round. */
int tm_oneof_member_chosen(const ProtobufCMessageDescriptor *d, unsigned i, unsigned round);

/* The bytes one value of field f takes in a message or a repeated array. */
size_t tm_slot_size(const ProtobufCFieldDescriptor *f);

#endif
