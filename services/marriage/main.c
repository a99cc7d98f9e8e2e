/*
 * main.c - marriage-studio: the unit runtime with the marriage studio's policy.
 */
#include "services/marriage/marriage.h"

int main(int argc, char **argv) { return un_main(argc, argv, &marriage_policy); }
