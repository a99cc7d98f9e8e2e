/*
 * main.c - community-station: the unit runtime with a workstation's policy;
 * one process per community (--unit station-wangai).
 */
#include "services/community/community.h"

int main(int argc, char **argv) { return un_main(argc, argv, &community_policy); }
