/*
 * police.h - the police studio's policy (大石头调解工作室).
 */
#ifndef UN_POLICE_H
#define UN_POLICE_H

#include "services/unit/unit.h"

extern const un_policy police_policy;

#endif /* UN_POLICE_H */
