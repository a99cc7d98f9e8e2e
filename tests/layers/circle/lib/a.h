/* a.h - fixture for tests/layers: module a, which b uses. */
