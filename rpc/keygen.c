/*
 * keygen.c - mediation-keygen: makes principals' Ed25519 key pairs for a
 * deployment.
 *
 * The idea: a deploy script runs it once per machine for the principals that
 * machine signs as, then pastes the printed public_key lines into the shared
 * registry. A key is never overwritten: replacing one silently would orphan
 * every receipt signed with it and lock the principal out until the registry
 * caught up, so an existing key must be moved away by hand.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "rpc/identity.h"

static void usage(FILE *out) {
  fputs(_("usage: mediation-keygen --dir DIR NAME...\n"
        "\n"
        "Makes an Ed25519 key pair for each principal NAME (a unit, coordinator\n"
        "or operator id: 1-64 of a-z, 0-9, '-' and '_'):\n"
        "  DIR/NAME.key  the secret key, mode 0600: keep it on the machine that\n"
        "                signs as NAME, readable by that process only\n"
        "  DIR/NAME.pub  the public key: the registry's public_key= value\n"
        "and prints \"NAME public_key = ...\" lines for the registry. DIR is\n"
        "created (mode 0700) if missing. An existing key is never replaced.\n"
        "\n"
        "options:\n"
        "  -d, --dir DIR   where to write the keys (required)\n"
        "  -h, --help      this text\n"
        "\n"
        "exit status: 0 every key made; 1 some key could not be made (the\n"
        "others were); 2 usage error.\n"),
        out);
}

int main(int argc, char **argv) {
  mc_i18n_init(); /* first: every message after this is in the reader's language */
  static const struct option longopts[] = {
      {"dir", required_argument, NULL, 'd'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *dir = NULL;
  int opt;
  while ((opt = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
    switch (opt) {
    case 'd':
      dir = optarg;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (dir == NULL || optind >= argc) {
    fprintf(stderr, "mediation-keygen: %s\n", dir == NULL ? "--dir DIR is required"
                                                         : "name at least one principal");
    usage(stderr);
    return 2;
  }
  int status = 0;
  for (int i = optind; i < argc; i++) {
    mc_err err = {0};
    rpc_key *key = NULL;
    if (rpc_key_generate(argv[i], &key, &err) != MC_OK || rpc_key_save(key, dir, &err) != MC_OK) {
      fprintf(stderr, "mediation-keygen: %s: %s\n", argv[i], err.msg);
      rpc_key_free(key);
      status = 1;
      continue;
    }
    char pub[RPC_PUBLIC_KEY_B64_MAX];
    rpc_key_public_base64(key, pub);
    printf("%s public_key = %s\n", argv[i], pub);
    rpc_key_free(key);
  }
  return status;
}
