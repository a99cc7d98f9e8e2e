/*
 * all_messages.h - every message descriptor of the contract, listed at build
 * time from protoc-c's headers (list_messages.cmake), for tests that must
 * cover each message type, including ones added later.
 */
#ifndef PJ_TEST_ALL_MESSAGES_H
#define PJ_TEST_ALL_MESSAGES_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

extern const ProtobufCMessageDescriptor *const pj_test_all_messages[];
extern const size_t pj_test_n_messages;

#endif
