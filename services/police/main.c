/*
 * main.c - police-studio: the unit runtime with the police studio's policy.
 */
#include "services/police/police.h"

int main(int argc, char **argv) { return un_main(argc, argv, &police_policy); }
