/*
 * desk.c - fixture for tests/layers: a unit daemon's file that includes the
 * router's case store, which cmake/layers.txt forbids. Never compiled.
 */
#include "storage/outbox.h"
#include "storage/store.h"
