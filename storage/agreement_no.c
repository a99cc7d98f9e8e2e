/*
 * agreement_no.c - the per unit and year sequence of agreement numbers
 * (（2026）宋调字第12号): a counter in meta, "agreement/<year>/<unit>",
 * peeked while the router decides a step and taken only once the step is
 * stored, in the same write transaction, so a refused step uses up no
 * number and a committed one never shares it.
 */
#include <stdio.h>
#include <string.h>

#include "storage/store_int.h"

static mc_code counter_name(const char *unit, int year, char *name, size_t cap, mc_err *err) {
  if (unit == NULL || unit[0] == '\0' || strlen(unit) > ST_NAME_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "agreement number: bad unit id");
  if (year < 1000 || year > 9999)
    return mc_err_set(err, MC_OUT_OF_RANGE, "agreement number: year %d out of range", year);
  snprintf(name, cap, "agreement/%d/%s", year, unit);
  return MC_OK;
}

mc_code st_agreement_peek(st_txn *txn, const char *unit, int year, uint64_t *next, mc_err *err) {
  char name[ST_NAME_MAX + 32];
  mc_code rc = sti_check_write(txn, STI_STORE, err);
  if (rc == MC_OK)
    rc = counter_name(unit, year, name, sizeof(name), err);
  uint64_t n = 0;
  if (rc == MC_OK)
    rc = sti_counter_get(txn, ((st_store *)txn->owner)->db[SDB_META], name, &n, err);
  if (rc == MC_OK)
    *next = n + 1;
  return rc;
}

mc_code st_agreement_take(st_txn *txn, const char *unit, int year, uint64_t n, mc_err *err) {
  char name[ST_NAME_MAX + 32];
  mc_code rc = sti_check_write(txn, STI_STORE, err);
  if (rc == MC_OK)
    rc = counter_name(unit, year, name, sizeof(name), err);
  if (rc == MC_OK)
    rc = sti_counter_set(txn, ((st_store *)txn->owner)->db[SDB_META], name, n, err);
  return rc;
}
