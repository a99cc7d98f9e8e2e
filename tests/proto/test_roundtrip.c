/*
 * test_roundtrip.c - every message type of the contract survives pack and
 * unpack with every field set.
 *
 * Messages are filled generically from their descriptors by the filler
 * tests/pbjson uses too (tests/support/messages_fill.c: every scalar
 * non-zero, every string and bytes field non-empty, every repeated field with
 * two elements, each member of each oneof in turn), so a field added to a
 * .proto file is covered without touching this test. The message types are
 * listed at build time from protoc-c's headers (mediation_test_messages, the
 * list tests/pbjson uses too), so a new message type is covered without
 * touching it either; the list is checked here against the "message" lines
 * of every .proto file, so the generator cannot silently miss one.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "messages.h"
#include "mv1.h"

static void *xmalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  assert_non_null(p);
  return p;
}

/* Every field of an unpacked message holds a non-default value (the members
 * of a oneof: the one chosen). */
static void assert_all_set(const ProtobufCMessage *m, unsigned round) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  const char *base = (const char *)m;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      if (!tm_oneof_member_chosen(d, i, round))
        continue;
      assert_int_equal(*(const uint32_t *)(base + f->quantifier_offset), f->id);
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      assert_int_equal(*(const size_t *)(base + f->quantifier_offset), 2);
      continue;
    }
    const void *slot = base + f->offset;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
      assert_true(strlen(*(char *const *)slot) > 0);
      break;
    case PROTOBUF_C_TYPE_BYTES:
      assert_int_equal(((const ProtobufCBinaryData *)slot)->len, 3);
      break;
    case PROTOBUF_C_TYPE_MESSAGE:
      assert_non_null(*(ProtobufCMessage *const *)slot);
      assert_all_set(*(ProtobufCMessage *const *)slot, round);
      break;
    default: {
      static const uint8_t zero[8];
      assert_memory_not_equal(slot, zero, tm_slot_size(f));
    }
    }
  }
}

static void test_every_message_round_trips(void **state) {
  (void)state;
  for (size_t i = 0; i < tm_n_messages; i++) {
    const ProtobufCMessageDescriptor *d = tm_all_messages[i];
    for (unsigned round = 0; round < tm_rounds(d); round++) {
      ProtobufCMessage *m = tm_new_filled(d, round);
      assert_true(protobuf_c_message_check(m));
      size_t len = protobuf_c_message_get_packed_size(m);
      uint8_t *bytes = xmalloc(len);
      assert_int_equal(protobuf_c_message_pack(m, bytes), len);

      ProtobufCMessage *back = protobuf_c_message_unpack(d, NULL, len, bytes);
      assert_non_null(back);
      assert_all_set(back, round);
      size_t len2 = protobuf_c_message_get_packed_size(back);
      assert_int_equal(len2, len);
      uint8_t *bytes2 = xmalloc(len2);
      protobuf_c_message_pack(back, bytes2);
      if (memcmp(bytes, bytes2, len) != 0)
        fail_msg("%s (round %u) does not round-trip", d->name, round);

      free(bytes);
      free(bytes2);
      protobuf_c_message_free_unpacked(back, NULL);
      protobuf_c_message_free_unpacked(m, NULL); /* filled with malloc: same as unpacked */
    }
  }
}

/* The generated list holds every message declared in the .proto files: every
 * file of proto/mediation/v1, read from the directory so that a new .proto
 * cannot be forgotten here. */
static void test_every_message_is_listed(void **state) {
  (void)state;
  char dir_path[512];
  snprintf(dir_path, sizeof(dir_path), "%s/proto/mediation/v1", MEDIATION_SOURCE_DIR);
  DIR *dir = opendir(dir_path);
  assert_non_null(dir);
  size_t declared = 0, files = 0;
  for (struct dirent *e; (e = readdir(dir)) != NULL;) {
    size_t len = strlen(e->d_name);
    if (len < 7 || strcmp(e->d_name + len - 6, ".proto") != 0)
      continue;
    files++;
    char path[1024], line[512];
    snprintf(path, sizeof(path), "%s/%s", dir_path, e->d_name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
      char name[128];
      if (sscanf(line, "message %127[A-Za-z0-9_]", name) == 1) {
        declared++;
        int found = 0;
        for (size_t k = 0; k < tm_n_messages; k++)
          found |= strcmp(tm_all_messages[k]->short_name, name) == 0;
        if (!found)
          fail_msg("message %s of %s is not in the generated list (list_messages.cmake)", name,
                   e->d_name);
      }
    }
    fclose(f);
  }
  closedir(dir);
  assert_true(files >= 7);
  assert_int_equal(declared, tm_n_messages); /* and nothing else */
}

/* A truncated or garbled message is refused, never half-decoded. */
static void test_truncated_input_is_refused(void **state) {
  (void)state;
  ProtobufCMessage *m = tm_new_filled(&mediation__v1__case__descriptor, 0);
  size_t len = protobuf_c_message_get_packed_size(m);
  uint8_t *bytes = xmalloc(len);
  protobuf_c_message_pack(m, bytes);
  size_t refused = 0;
  for (size_t cut = 1; cut < len; cut++) {
    ProtobufCMessage *back = protobuf_c_message_unpack(&mediation__v1__case__descriptor, NULL, cut, bytes);
    if (back == NULL)
      refused++;
    else
      protobuf_c_message_free_unpacked(back, NULL);
  }
  /* Cutting at a field boundary leaves a valid shorter message; cutting
   * inside a field must not decode. Most cuts fall inside a field. */
  assert_true(refused > len / 2);
  free(bytes);
  protobuf_c_message_free_unpacked(m, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_message_round_trips),
      cmocka_unit_test(test_every_message_is_listed),
      cmocka_unit_test(test_truncated_input_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
