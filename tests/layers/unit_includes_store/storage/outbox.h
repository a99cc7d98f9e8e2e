/* outbox.h - fixture for tests/layers: stands for the outbox's header. */
