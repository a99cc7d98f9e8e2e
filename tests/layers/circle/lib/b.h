/* b.h - fixture for tests/layers: module b, which a uses. */
