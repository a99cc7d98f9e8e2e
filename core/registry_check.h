/*
 * registry_check.h - the checks of a whole registry that look across its
 * sections (registry_check.c), for the loader (registry_load.c) to run once
 * every section has been read. Private to the runtime's loader.
 */
#ifndef MC_REGISTRY_CHECK_H
#define MC_REGISTRY_CHECK_H

#include "core/registry.h"

/* Checks the web sites, the units' reminder routes, the cluster's nodes
 * (filling their raft ids) and that every unit and community name and
 * alias is unique. Errors name `origin` (the file), the section and what
 * is wrong, in the process's language. */
mc_code mc_registry_check_sections(mc_registry *reg, const char *origin, mc_err *err);

#endif /* MC_REGISTRY_CHECK_H */
