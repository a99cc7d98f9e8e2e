/*
 * main.c - mediactl, the command-line client of the mediation system.
 * Everything is in the library (ctl.h); this only hands over the command line.
 */
#include "services/coordinator/ctl.h"

int main(int argc, char **argv) { return ctl_main(argc, argv); }
