/* store.h - fixture for tests/layers: stands for the case store's header. */
