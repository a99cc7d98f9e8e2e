/*
 * community.h - a community workstation's policy (社区工作站).
 */
#ifndef UN_COMMUNITY_H
#define UN_COMMUNITY_H

#include "services/unit/unit.h"

extern const un_policy community_policy;

#endif /* UN_COMMUNITY_H */
