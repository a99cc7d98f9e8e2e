/* b.c - fixture for tests/layers: ...and b uses a: a circle. Never compiled. */
#include "lib/a.h"
#include "lib/b.h"
