/* a.c - fixture for tests/layers: a uses b... Never compiled. */
#include "lib/a.h"
#include "lib/b.h"
