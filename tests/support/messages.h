/*
 * messages.h - every message descriptor of the contract, listed at build
 * time from protoc-c's headers (list_messages.cmake), for the tests that must
 * cover each message type, including ones added later: one generated list
 * shared by tests/proto and tests/pbjson instead of a list kept by hand.
 * Link mediation_test_messages.
 */
#ifndef TM_MESSAGES_H
#define TM_MESSAGES_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

extern const ProtobufCMessageDescriptor *const tm_all_messages[];
extern const size_t tm_n_messages;

#endif
