/*
 * gen_docs.c - mediation-gen-docs: prints docs/state-machine.md from the
 * transition table, and docs/configuration.md's key reference from the
 * table of configuration keys (core/config_keys.c).
 *
 * The idea: the docs are an output of the code, not a second copy of it.
 * Every row, label, guard and delivery printed here is read from the table
 * (mc_transitions), the name tables (names.h), the action table (actions.h)
 * or the functions themselves (mc_deliveries_for on a sample event), and the
 * test docs_state_machine_current fails when the committed file differs
 * from what this prints. Before printing, every state, action and delivery
 * kind of the name tables is checked to have its place in the output (a
 * state or action in the transition table, a delivery made by an action or
 * described below); one that has none fails the run, and so the test,
 * naming it, so the doc cannot silently miss a value added later.
 * Regenerate with
 *   cmake --build build --target state-machine-docs
 * Usage: mediation-gen-docs [output-file]   (standard output by default)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/actions.h"
#include "core/config_keys.h"
#include "core/machine.h"
#include "core/names.h"

/* Deliveries that no action of the table makes: the router's (router/apply.c,
 * send_step), described here so the doc lists every kind of delivery. */
static const struct {
  Mediation__V1__DeliveryKind kind;
  const char *step, *to;
} other_deliveries[] = {
    {MV_DELIVERY(UPDATED), "any step",
     "every other unit in the case's `units_involved` (it holds, held or was offered the case), "
     "except the unit whose request made the step and a handoff's receiver; the receipt is "
     "not recorded in the case file"},
};
#define N_OTHER_DELIVERIES (sizeof(other_deliveries) / sizeof(other_deliveries[0]))

static const char *state_cell(mv_state s, char *buf, size_t cap) {
  if (s == MV_STATE(UNSPECIFIED))
    snprintf(buf, cap, "— (new case)");
  else
    snprintf(buf, cap, "%s %s", mc_label_of(mc_state_names, (int)s),
             mc_name_of(mc_state_names, (int)s));
  return buf;
}

static const char *action_cell(mv_action_kind a, char *buf, size_t cap) {
  snprintf(buf, cap, "%s %s", mc_label_of(mc_action_names, (int)a),
           mc_name_of(mc_action_names, (int)a));
  return buf;
}

static const struct {
  unsigned bit;
  const char *text;
} role_words[] = {
    {MC_BY_ANY_UNIT, "任一单位 any registered unit"},
    {MC_BY_HOLDER, "承办单位 holder"},
    {MC_BY_TARGET, "接收单位 offered unit"},
    {MC_BY_COORDINATOR, "协调员 coordinator"},
    {MC_BY_SYSTEM, "系统 router"},
};

static void print_roles(FILE *out, unsigned roles) {
  bool first = true;
  for (size_t i = 0; i < sizeof(role_words) / sizeof(role_words[0]); i++) {
    if (roles & role_words[i].bit) {
      fprintf(out, "%s%s", first ? "" : ", ", role_words[i].text);
      first = false;
    }
  }
}

/* The states a pending transfer can return to: those an offer starts from. */
static void print_offer_states(FILE *out, const mc_transition *t, size_t n) {
  bool first = true;
  char buf[64];
  for (size_t i = 0; i < n; i++) {
    if (t[i].action == MV_ACTION(TRANSFER)) {
      fprintf(out, "%s%s", first ? "" : ", ", state_cell(t[i].from, buf, sizeof(buf)));
      first = false;
    }
  }
}

static void print_table(FILE *out, const mc_transition *t, size_t n) {
  char a[64], b[64], c[64];
  fprintf(out, "| from | action | to | who | guard |\n");
  fprintf(out, "|---|---|---|---|---|\n");
  for (size_t i = 0; i < n; i++) {
    fprintf(out, "| %s | %s | ", state_cell(t[i].from, a, sizeof(a)),
            action_cell(t[i].action, b, sizeof(b)));
    if (t[i].to_return_state) {
      fprintf(out, "back to the state it was offered from (");
      print_offer_states(out, t, n);
      fprintf(out, ")");
    } else {
      fprintf(out, "%s", state_cell(t[i].to, c, sizeof(c)));
      if (t[i].resume_feedback)
        fprintf(out, "; %s if offered from %s", state_cell(MV_STATE(FEEDBACK), a, sizeof(a)),
                mc_label_of(mc_state_names, MV_STATE(FEEDBACK)));
    }
    fprintf(out, " | ");
    print_roles(out, t[i].roles);
    fprintf(out, " | %s |\n", t[i].guard ? t[i].guard : "");
  }
}

/* One diagram edge per (from, to), labelled with every action taking it. */
typedef struct edge {
  mv_state from, to;
  char label[160];
} edge;

static void add_edge(edge *edges, size_t *n, size_t cap, mv_state from, mv_state to,
                     mv_action_kind action) {
  const char *name = mc_name_of(mc_action_names, (int)action);
  for (size_t i = 0; i < *n; i++) {
    if (edges[i].from == from && edges[i].to == to) {
      size_t used = strlen(edges[i].label);
      snprintf(edges[i].label + used, sizeof(edges[i].label) - used, ", %s", name);
      return;
    }
  }
  if (*n == cap) {
    /* a table grown past the diagram's room must not print a partial one */
    fprintf(stderr, "mediation-gen-docs: more than %zu diagram edges\n", cap);
    exit(1);
  }
  edges[*n].from = from;
  edges[*n].to = to;
  snprintf(edges[*n].label, sizeof(edges[*n].label), "%s", name);
  (*n)++;
}

static const char *node(mv_state s) {
  return s == MV_STATE(UNSPECIFIED) ? "[*]" : mc_name_of(mc_state_names, (int)s);
}

static void print_diagram(FILE *out, const mc_transition *t, size_t n) {
  edge edges[64];
  size_t n_edges = 0, cap = sizeof(edges) / sizeof(edges[0]);
  for (size_t i = 0; i < n; i++) {
    if (t[i].to_return_state) {
      for (size_t k = 0; k < n; k++) {
        if (t[k].action == MV_ACTION(TRANSFER))
          add_edge(edges, &n_edges, cap, t[i].from, t[k].from, t[i].action);
      }
      continue;
    }
    add_edge(edges, &n_edges, cap, t[i].from, t[i].to, t[i].action);
    if (t[i].resume_feedback)
      add_edge(edges, &n_edges, cap, t[i].from, MV_STATE(FEEDBACK), t[i].action);
  }
  fprintf(out, "```mermaid\nstateDiagram-v2\n");
  for (const mc_name *s = mc_state_names; s->name != NULL; s++)
    fprintf(out, "    state \"%s %s\" as %s\n", s->label, s->name, node((mv_state)s->value));
  for (size_t i = 0; i < n_edges; i++)
    fprintf(out, "    %s --> %s : %s\n", node(edges[i].from), node(edges[i].to),
            edges[i].label);
  for (const mc_name *s = mc_state_names; s->name != NULL; s++) {
    if (mc_state_is_final((mv_state)s->value))
      fprintf(out, "    %s --> [*]\n", node((mv_state)s->value));
  }
  fprintf(out, "```\n");
}

/* Asks mc_deliveries_for what each handoff step sends, on a sample event
 * for every action whose definition (actions.h) makes a delivery. */
static void print_deliveries(FILE *out) {
  char buf[64];
  fprintf(out, "| step | delivery | to |\n|---|---|---|\n");
  for (int kind = MV_ACTION(UNSPECIFIED) + 1; mc_action_def_of((mv_action_kind)kind); kind++) {
    const mc_action_def *def = mc_action_def_of((mv_action_kind)kind);
    if (def->delivery == 0)
      continue;
    mv_action act = MEDIATION__V1__CASE_ACTION__INIT;
    mv_event ev = MEDIATION__V1__CASE_EVENT__INIT;
    act.kind = (mv_action_kind)kind;
    act.args_case = MV_ARGS(TO_UNIT);
    act.to_unit = (char *)def->delivery_to;
    ev.action = &act;
    ev.from_state = MV_STATE(TRANSFER);
    mc_delivery_target d[2];
    size_t k = mc_deliveries_for(&ev, d);
    for (size_t j = 0; j < k; j++)
      fprintf(out, "| %s%s | %s %s | %s |\n", action_cell(act.kind, buf, sizeof(buf)),
              def->handoff_only_in_transfer ? " (from 流转 transfer)" : "",
              mc_label_of(mc_delivery_names, (int)d[j].kind),
              mc_name_of(mc_delivery_names, (int)d[j].kind), d[j].unit);
  }
  for (size_t i = 0; i < N_OTHER_DELIVERIES; i++)
    fprintf(out, "| %s | %s %s | %s |\n", other_deliveries[i].step,
            mc_label_of(mc_delivery_names, (int)other_deliveries[i].kind),
            mc_name_of(mc_delivery_names, (int)other_deliveries[i].kind), other_deliveries[i].to);
}

static bool state_has_row(const mc_transition *t, size_t n, mv_state s) {
  for (size_t i = 0; i < n; i++) {
    if (t[i].from == s || (!t[i].to_return_state && t[i].to == s))
      return true;
  }
  return false;
}

static bool action_has_row(const mc_transition *t, size_t n, mv_action_kind a) {
  for (size_t i = 0; i < n; i++) {
    if (t[i].action == a)
      return true;
  }
  return false;
}

static bool delivery_is_described(Mediation__V1__DeliveryKind kind) {
  for (int a = MV_ACTION(UNSPECIFIED) + 1; mc_action_def_of((mv_action_kind)a); a++) {
    if (mc_action_def_of((mv_action_kind)a)->delivery == kind)
      return true;
  }
  for (size_t i = 0; i < N_OTHER_DELIVERIES; i++) {
    if (other_deliveries[i].kind == kind)
      return true;
  }
  return false;
}

/* Every state, action and delivery kind of the name tables has its place in
 * the doc; says which has none on standard error. */
static bool doc_is_complete(const mc_transition *t, size_t n) {
  bool ok = true;
  for (const mc_name *s = mc_state_names; s->name != NULL; s++) {
    if (!state_has_row(t, n, (mv_state)s->value)) {
      fprintf(stderr, "mediation-gen-docs: state %s has no row in the transition table\n",
              s->name);
      ok = false;
    }
  }
  for (const mc_name *a = mc_action_names; a->name != NULL; a++) {
    if (!action_has_row(t, n, (mv_action_kind)a->value)) {
      fprintf(stderr, "mediation-gen-docs: action %s has no row in the transition table\n",
              a->name);
      ok = false;
    }
  }
  for (const mc_name *d = mc_delivery_names; d->name != NULL; d++) {
    if (!delivery_is_described((Mediation__V1__DeliveryKind)d->value)) {
      fprintf(stderr,
              "mediation-gen-docs: delivery %s is made by no action and not described in "
              "other_deliveries (core/gen_docs.c)\n",
              d->name);
      ok = false;
    }
  }
  return ok;
}

/* What a key accepts, from its row's type and range. */
static void print_accepts(FILE *out, const mc_conf_key *k) {
  switch (k->type) {
  case MC_CONF_TEXT: fprintf(out, "text"); break;
  case MC_CONF_CASE_PREFIX: fprintf(out, "1–8 of `A-Z` and `0-9`"); break;
  case MC_CONF_NUMBER:
    if (k->max == INT64_MAX / k->scale)
      fprintf(out, "whole number, at least %lld", (long long)k->min);
    else
      fprintf(out, "whole number from %lld to %lld", (long long)k->min, (long long)k->max);
    break;
  case MC_CONF_DURATION: fprintf(out, "duration"); break;
  case MC_CONF_KINDS: fprintf(out, "dispute kinds"); break;
  case MC_CONF_PUBLIC_KEY: fprintf(out, "base64 Ed25519 public key"); break;
  case MC_CONF_UNIT_KIND: fprintf(out, "`police`, `marriage` or `community`"); break;
  case MC_CONF_MEMBER: fprintf(out, "`<role> <person>`, repeatable"); break;
  case MC_CONF_TEXT_LIST: fprintf(out, "text, repeatable"); break;
  }
}

#define CONF_BEGIN "<!-- BEGIN key reference"
#define CONF_END "<!-- END key reference -->\n"

/* docs/configuration.md's key reference: every section and key of the
 * table in core/config_keys.c, between the markers. */
static void print_key_reference(FILE *out) {
  size_t n;
  const mc_conf_section *sections = mc_conf_sections(&n);
  fprintf(out, CONF_BEGIN ": generated by mediation-gen-docs from core/config_keys.c.\n"
               "     Do not edit: run `cmake --build build --target configuration-docs`.\n"
               "     The test docs_configuration_current fails when this part is out of date. "
               "-->\n");
  for (size_t i = 0; i < n; i++) {
    const mc_conf_section *sec = &sections[i];
    fprintf(out, "\n## `[%s%s]`\n\n", sec->name, sec->owner == MC_CONF_REGISTRY ? "" : " <id>");
    if (sec->about != NULL)
      fprintf(out, "%s\n\n", sec->about);
    fprintf(out, "| key | accepts | default | meaning |\n|---|---|---|---|\n");
    for (size_t k = 0; k < sec->n_keys; k++) {
      const mc_conf_key *key = &sec->keys[k];
      fprintf(out, "| `%s` | ", key->key);
      print_accepts(out, key);
      if (key->dflt == NULL)
        fprintf(out, " | — ");
      else if (key->dflt[0] == '\0')
        fprintf(out, " | empty ");
      else
        fprintf(out, " | `%s` ", key->dflt);
      fprintf(out, "| %s |\n", key->meaning);
    }
  }
  fprintf(out, "\n" CONF_END);
}

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  char *text = NULL;
  size_t len = 0, cap = 0, got;
  do {
    if (cap - len < 4096) {
      char *grown = realloc(text, cap + 65536);
      if (grown == NULL)
        break;
      text = grown;
      cap += 65536;
    }
    got = fread(text + len, 1, cap - len - 1, f);
    len += got;
  } while (got > 0);
  bool failed = ferror(f) || text == NULL || cap - len < 1;
  fclose(f);
  if (failed) {
    free(text);
    return NULL;
  }
  text[len] = '\0';
  return text;
}

/* Rewrites the key reference of `in` (docs/configuration.md) into `out`,
 * the prose around it as it is. */
static int configuration_main(const char *in, const char *out_path) {
  char *text = read_all(in);
  if (text == NULL) {
    perror(in);
    return 1;
  }
  char *begin = strstr(text, CONF_BEGIN);
  char *end = begin ? strstr(begin, CONF_END) : NULL;
  if (end == NULL) {
    fprintf(stderr, "%s: no key reference to replace (between \"%s\" and \"%.*s\")\n", in,
            CONF_BEGIN, (int)strlen(CONF_END) - 1, CONF_END);
    free(text);
    return 1;
  }
  FILE *out = fopen(out_path, "w");
  if (out == NULL) {
    perror(out_path);
    free(text);
    return 1;
  }
  fwrite(text, 1, (size_t)(begin - text), out);
  print_key_reference(out);
  fputs(end + strlen(CONF_END), out);
  free(text);
  if (fclose(out) != 0) {
    perror(out_path);
    return 1;
  }
  return 0;
}

static void state_machine_main(FILE *out) {
  size_t n;
  const mc_transition *t = mc_transitions(&n);
  fprintf(out,
          "# The case state machine\n\n"
          "<!-- Generated by mediation-gen-docs from the transition table in core/machine.c.\n"
          "     Do not edit: run `cmake --build build --target state-machine-docs`.\n"
          "     The test docs_state_machine_current fails when this file is out of date. -->\n\n"
          "Every step of a case is one row below: the state it is taken in, the action, where\n"
          "it leads, who may take it, and any further condition (guard). A step the state does\n"
          "not allow is refused with FAILED_PRECONDITION; one the state allows but not for this\n"
          "actor, with PERMISSION_DENIED; bad fields, with INVALID_ARGUMENT; a guard that does\n"
          "not hold, with FAILED_PRECONDITION; a full case file, with RESOURCE_EXHAUSTED.\n\n"
          "Who: the holder (承办单位) is the unit responsible for the case now; the offered unit\n"
          "(接收单位) is the one a pending transfer is offered to; during a transfer the holder\n"
          "is still the sender.\n\n"
          "## Transitions\n\n");
  print_table(out, t, n);
  fprintf(out,
          "\nDeadlines: entering a state sets the case's deadline to now plus the configured\n"
          "limit for that state (`[deadlines]` in the configuration; none for the endings);\n"
          "a step that keeps the state keeps the deadline. An outcome with a follow-up date\n"
          "(`followup_due_ms`) sets the deadline of feedback to that date.\n\n"
          "## Diagram\n\n");
  print_diagram(out, t, n);
  fprintf(out,
          "\n## Deliveries\n\n"
          "The handoff steps queue a delivery for the other unit of the handoff, which the\n"
          "applied action names in `to_unit`; every step queues an update for the other\n"
          "units that keep a copy of the case:\n\n");
  print_deliveries(out);
}

int main(int argc, char **argv) {
  bool configuration = argc >= 2 && strcmp(argv[1], "--configuration") == 0;
  bool help = argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
  bool misused = configuration ? argc < 3 || argc > 4 : argc > 2;
  if (help || misused) {
    fprintf(stderr,
            "usage: %s [output-file]\n"
            "       %s --configuration docs/configuration.md [output-file]\n"
            "Prints docs/state-machine.md, generated from the transition table; or\n"
            "rewrites the key reference of docs/configuration.md from the key table\n"
            "(into output-file, or in place).\n",
            argv[0], argv[0]);
    return help ? 0 : 2;
  }
  if (configuration)
    return configuration_main(argv[2], argc == 4 ? argv[3] : argv[2]);
  size_t n;
  const mc_transition *t = mc_transitions(&n);
  if (!doc_is_complete(t, n))
    return 1; /* before the output is opened: no half-written doc */
  FILE *out = stdout;
  if (argc == 2 && (out = fopen(argv[1], "w")) == NULL) {
    perror(argv[1]);
    return 1;
  }
  state_machine_main(out);
  if (out != stdout && fclose(out) != 0) {
    perror(argv[1]);
    return 1;
  }
  if (out == stdout && fflush(stdout) != 0)
    return 1;
  return 0;
}
