/*
 * marriage.h - the marriage studio's policy (宋大姐调解工作室).
 */
#ifndef UN_MARRIAGE_H
#define UN_MARRIAGE_H

#include "services/unit/unit.h"

extern const un_policy marriage_policy;

#endif /* UN_MARRIAGE_H */
