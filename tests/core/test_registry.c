/*
 * test_registry.c - the deployment's configuration is read as documented,
 * and every mistake in it is named with its section and key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/registry.h"

static char key_b64[64];

static void make_key(void) {
  uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  assert_int_equal(sodium_init() >= 0, 1);
  crypto_sign_keypair(pk, sk);
  sodium_bin2base64(key_b64, sizeof(key_b64), pk, sizeof(pk), sodium_base64_VARIANT_ORIGINAL);
}

/* A small but whole deployment: the three kinds of unit, two communities. */
static char *sample(const char *extra) {
  static char buf[8192];
  snprintf(buf, sizeof(buf),
           "[subdistrict]\n"
           "name = 白鹤街道\n"
           "case_prefix = BH\n"
           "[router]\n"
           "endpoint = ipc:///tmp/x/router.ipc\n"
           "data_dir = /tmp/x/router\n"
           "idempotency_hours = 48\n"
           "[deadlines]\n"
           "transfer = 12h\n"
           "mediation = 20d\n"
           "litigation = 0\n"
           "feedback = 90s\n"
           "[policy]\n"
           "refer_marriage = divorce custody, elder_support inheritance relationship family_trivia\n"
           "refer_community = neighbour\n"
           "lawyer_above_yuan = 80000\n"
           "[community wangai]\n"
           "name = 王隘社区\n"
           "station = station-wangai\n"
           "grid = 第一网格\n"
           "grid = 第二网格\n"
           "[community kongque]\n"
           "name = 孔雀社区\n"
           "[unit police-studio]\n"
           "name = 大石头调解工作室\n"
           "kind = police\n"
           "public_key = %s\n"
           "member = mediator 老支书\n"
           "[unit marriage-studio]\n"
           "name = 宋大姐调解工作室\n"
           "kind = marriage\n"
           "public_key = %s\n"
           "member = mediator 宋大姐\n"
           "member = counsellor 林咨询师\n"
           "member = lawyer 周律师\n"
           "[unit station-wangai]\n"
           "name = 王隘社区工作站\n"
           "kind = community\n"
           "community = wangai\n"
           "public_key = %s\n"
           "[unit station-kongque]\n"
           "kind = community\n"
           "community = kongque\n"
           "public_key = %s\n"
           "[coordinator zhang]\n"
           "name = 综治办\n"
           "public_key = %s\n"
           "[operator police-desk]\n"
           "unit = police-studio\n"
           "public_key = %s\n"
           "%s",
           key_b64, key_b64, key_b64, key_b64, key_b64, key_b64, extra);
  return buf;
}

static void test_sample_loads(void **state) {
  (void)state;
  make_key();
  mc_registry *reg = NULL;
  mc_err err;
  if (mc_registry_parse(sample(""), "sample.conf", &reg, &err) != MC_OK)
    fail_msg("%s", err.msg);
  assert_string_equal(reg->subdistrict, "白鹤街道");
  assert_string_equal(reg->case_prefix, "BH");
  assert_int_equal(reg->utc_offset_minutes, 480);
  assert_int_equal(reg->n_units, 4);
  assert_int_equal(reg->n_communities, 2);
  assert_int_equal(reg->router.idempotency_ms, 48LL * 3600 * 1000);
  assert_int_equal(reg->deadline_ms[MV_STATE(TRANSFER)], 12LL * 3600 * 1000);
  assert_int_equal(reg->deadline_ms[MV_STATE(MEDIATION)], 20LL * 24 * 3600 * 1000);
  /* untouched keys keep their defaults */
  assert_int_equal(reg->deadline_ms[MV_STATE(INTAKE)], 72LL * 3600 * 1000);
  assert_int_equal(reg->deadline_ms[MV_STATE(LITIGATION)], 0);
  assert_int_equal(reg->deadline_ms[MV_STATE(FEEDBACK)], 90 * 1000);
  assert_int_equal(reg->policy.lawyer_above_fen, 8000000);
  assert_true(reg->policy.refer_marriage & (1u << MV_KIND(ELDER_SUPPORT)));
  assert_false(reg->policy.refer_marriage & (1u << MV_KIND(NEIGHBOUR)));
  assert_true(reg->policy.refer_community & (1u << MV_KIND(NEIGHBOUR)));

  const mc_unit *m = mc_registry_unit(reg, "marriage-studio");
  assert_non_null(m);
  assert_int_equal(m->kind, MC_UNIT_MARRIAGE);
  assert_int_equal(m->n_roster, 3);
  assert_string_equal(m->roster[1].person, "林咨询师");
  assert_int_equal(m->roster[1].role, MV_ROLE(COUNSELLOR));
  assert_ptr_equal(mc_registry_find_unit(reg, "宋大姐调解工作室"), m);
  assert_ptr_equal(mc_registry_first_of_kind(reg, MC_UNIT_MARRIAGE), m);

  const mc_community *c = mc_registry_find_community(reg, "王隘社区");
  assert_non_null(c);
  assert_string_equal(c->id, "wangai");
  assert_int_equal(c->n_grids, 2);
  assert_string_equal(mc_registry_station(reg, "wangai")->id, "station-wangai");
  /* a community without station= finds its station through the unit */
  assert_string_equal(mc_registry_station(reg, "kongque")->id, "station-kongque");

  /* units, the coordinator and the operator are all principals */
  assert_int_equal(reg->n_principals, 6);
  assert_int_equal(mc_registry_principal(reg, "zhang")->kind, MC_PRINCIPAL_COORDINATOR);
  assert_int_equal(mc_registry_principal(reg, "police-desk")->kind, MC_PRINCIPAL_OPERATOR);
  assert_string_equal(mc_registry_principal(reg, "police-desk")->unit, "police-studio");
  assert_int_equal(mc_registry_principal(reg, "station-kongque")->kind, MC_PRINCIPAL_UNIT);
  assert_null(mc_registry_principal(reg, "nobody"));
  mc_registry_free(reg);
}

static void expect_error(const char *extra, const char *needle) {
  mc_registry *reg = NULL;
  mc_err err;
  assert_int_equal(mc_registry_parse(sample(extra), "sample.conf", &reg, &err),
                   MC_INVALID_ARGUMENT);
  assert_null(reg);
  if (strstr(err.msg, needle) == NULL)
    fail_msg("expected \"%s\" in \"%s\"", needle, err.msg);
}

static void test_mistakes_are_named(void **state) {
  (void)state;
  make_key();
  expect_error("[router]\ncolour = blue\n", "[router] colour: unknown key");
  expect_error("[bogus]\nx = 1\n", "[bogus] x: unknown section");
  expect_error("[deadlines]\ntransfer = soon\n",
               "[deadlines] transfer: expected a duration such as 90s");
  expect_error("[deadlines]\ntransfer = 24\n", "[deadlines] transfer: expected a duration");
  expect_error("[deadlines]\ntransfer = 24hours\n", "[deadlines] transfer: expected a duration");
  expect_error("[unit x]\nkind = court\n", "[unit x] kind: expected police, marriage or community");
  expect_error("[unit s]\nkind = community\ncommunity = nowhere\npublic_key = AAAA\n",
               "public_key: expected a base64 Ed25519 public key");
  expect_error("[unit Bad Id]\nkind = police\n", "section id \"Bad Id\" must be");
  expect_error("[policy]\nrefer_marriage = divorce quarrel\n",
               "unknown dispute kind \"quarrel\"");
  expect_error("[subdistrict]\ncase_prefix = bh\n", "case_prefix: expected 1-8 capital");
  expect_error("[operator desk2]\nunit = nowhere\npublic_key = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
               "[operator desk2] unit \"nowhere\" is not a [unit] section");
  expect_error("[unit lone]\nkind = police\n", "[unit lone] has no public_key");
  expect_error("[community kongque]\nstation = police-studio\n",
               "[community kongque] station \"police-studio\" is not a community unit");
  expect_error("[unit m2]\nkind = marriage\nmember = judge 某人\n", "unknown role \"judge\"");
  expect_error("[limits]\npage_size_default = 900\n",
               "page_size_default exceeds page_size_max");
  expect_error("[subdistrict]\nutc_offset_minutes = 900\n",
               "[subdistrict] utc_offset_minutes: expected a whole number from -840 to 840, "
               "got \"900\"");
  expect_error("[router]\nmap_mib = 0\n",
               "[router] map_mib: expected a whole number from 1 to 1048576, got \"0\"");
  expect_error("[limits]\nmax_money_yuan = -1\n",
               "[limits] max_money_yuan: expected a whole number from 0 to 92233720368547758");
  expect_error("[coordinator zhang]\nunit = police-studio\n", "[coordinator zhang] unit: unknown key");
  expect_error("[operator zhang]\nunit = police-studio\n",
               "[operator zhang] unit: id used by two principals");
  expect_error("[unit x]\nmember = mediator\n", "[unit x] member: expected \"<role> <person>\"");
  expect_error("[unit]\nname = x\n", "[unit] name: unknown section");
  expect_error("[community wangai]\ncolour = blue\n", "[community wangai] colour: unknown key");
}

/* What a file that sets nothing gets: the defaults docs/configuration.md
 * gives, the same as before they came from the key table (config_keys.c). */
static void test_defaults(void **state) {
  (void)state;
  mc_registry *reg = NULL;
  mc_err err;
  if (mc_registry_parse("", "empty.conf", &reg, &err) != MC_OK)
    fail_msg("%s", err.msg);
  const int64_t hour = 3600LL * 1000, day = 24 * hour;
  assert_string_equal(reg->subdistrict, "");
  assert_string_equal(reg->case_prefix, "BH");
  assert_null(reg->keys_dir);
  assert_int_equal(reg->utc_offset_minutes, 480);
  assert_int_equal(reg->router.map_bytes, 64u << 20);
  assert_int_equal(reg->router.contexts, 64);
  assert_int_equal(reg->router.idempotency_ms, 7 * day);
  assert_int_equal(reg->router.batch_max, 256);
  assert_int_equal(reg->router.backups_kept, 7);
  assert_false(reg->router.has_key);
  assert_null(reg->router.endpoint);
  assert_int_equal(reg->deadline_ms[MV_STATE(INTAKE)], 72 * hour);
  assert_int_equal(reg->deadline_ms[MV_STATE(TRANSFER)], 24 * hour);
  assert_int_equal(reg->deadline_ms[MV_STATE(MEDIATION)], 30 * day);
  assert_int_equal(reg->deadline_ms[MV_STATE(FEEDBACK)], 30 * day);
  assert_int_equal(reg->deadline_ms[MV_STATE(LITIGATION)], 180 * day);
  assert_int_equal(reg->deadline_ms[MV_STATE(CLOSED)], 0);
  assert_int_equal(reg->limits.max_message_bytes, 1u << 20);
  assert_int_equal(reg->limits.max_text_bytes, 4096);
  assert_int_equal(reg->limits.max_name_bytes, 128);
  assert_int_equal(reg->limits.max_parties, 16);
  assert_int_equal(reg->limits.max_team, 32);
  assert_int_equal(reg->limits.max_sessions, 64);
  assert_int_equal(reg->limits.max_events, 1000);
  assert_int_equal(reg->limits.max_money_fen, 100000000000LL);
  assert_int_equal(reg->limits.page_size_default, 50);
  assert_int_equal(reg->limits.page_size_max, 500);
  assert_int_equal(reg->limits.max_deadline_ahead_ms, 10 * 60 * 1000);
  assert_int_equal(reg->policy.refer_marriage, 0);
  assert_int_equal(reg->policy.lawyer_above_fen, 5000000);
  assert_int_equal(reg->policy.followup_after_ms, 30 * day);
  assert_int_equal(reg->web.idle_ms, 30 * 60 * 1000);
  assert_int_equal(reg->web.absolute_ms, 12 * hour);
  assert_int_equal(reg->web.max_body_bytes, 64 * 1024);
  assert_int_equal(reg->web.max_conns_per_client, 16);
  assert_null(reg->web.static_dir);
  assert_int_equal(reg->n_web_sites, 0);
  mc_registry_free(reg);

  /* Numbers land whole in fields of either width. */
  if (mc_registry_parse("[subdistrict]\nutc_offset_minutes = -840\n[router]\nmap_mib = 1048576\n"
                        "[limits]\nmax_money_yuan = 92233720368547758\n",
                        "wide.conf", &reg, &err) != MC_OK)
    fail_msg("%s", err.msg);
  assert_int_equal(reg->utc_offset_minutes, -840);
  assert_int_equal(reg->router.map_bytes, (size_t)1 << 40);
  assert_int_equal(reg->limits.max_money_fen, 9223372036854775800LL);
  mc_registry_free(reg);
}

/* The web gateways' sections: [web] once, [web <site>] per unit or for
 * the coordinators, the site id quoted or not. */
static void test_web_sections(void **state) {
  (void)state;
  make_key();
  mc_registry *reg = NULL;
  mc_err err;
  const char *web = "[web]\n"
                    "idle_minutes = 20\n"
                    "max_body_kib = 32\n"
                    "static_dir = /srv/web\n"
                    "[web police-studio]\n"
                    "listen = http://127.0.0.1:8441\n"
                    "data_dir = /var/lib/mediation/web-police\n"
                    "principal = police-desk\n"
                    "[web \"coordinators\"]\n"
                    "listen = https://0.0.0.0:8443\n"
                    "tls_cert = /etc/mediation/web.crt\n"
                    "tls_key = /etc/mediation/web.key\n"
                    "data_dir = /var/lib/mediation/web-coordinators\n"
                    "principal = zhang\n";
  if (mc_registry_parse(sample(web), "sample.conf", &reg, &err) != MC_OK)
    fail_msg("%s", err.msg);
  assert_int_equal(reg->web.idle_ms, 20 * 60 * 1000);
  assert_int_equal(reg->web.absolute_ms, 12LL * 3600 * 1000); /* the default */
  assert_int_equal(reg->web.max_body_bytes, 32 * 1024);
  assert_int_equal(reg->web.max_conns_per_client, 16);
  assert_string_equal(reg->web.static_dir, "/srv/web");
  assert_int_equal(reg->n_web_sites, 2);
  const mc_web_site *p = mc_registry_web_site(reg, "police-studio");
  assert_non_null(p);
  assert_string_equal(p->listen, "http://127.0.0.1:8441");
  assert_string_equal(p->data_dir, "/var/lib/mediation/web-police");
  assert_string_equal(p->principal, "police-desk");
  assert_null(p->tls_cert);
  const mc_web_site *c = mc_registry_web_site(reg, MC_WEB_COORDINATORS);
  assert_non_null(c);
  assert_string_equal(c->tls_key, "/etc/mediation/web.key");
  assert_null(mc_registry_web_site(reg, "marriage-studio"));
  mc_registry_free(reg);

  expect_error("[web nowhere]\ndata_dir = /x\n",
               "[web nowhere] is neither a [unit] section's id nor \"coordinators\"");
  expect_error("[web police-studio]\nlisten = http://127.0.0.1:1\n",
               "[web police-studio] has no data_dir");
  expect_error("[web coordinators]\ndata_dir = /x\ntls_cert = /c.pem\n",
               "[web coordinators] needs both tls_cert and tls_key");
  expect_error("[web coordinators]\ndata_dir = /x\nprincipal = police-desk\n",
               "principal \"police-desk\" is not a [coordinator] section");
  expect_error("[web marriage-studio]\ndata_dir = /x\nprincipal = police-desk\n",
               "principal \"police-desk\" is not an [operator] of that unit");
  expect_error("[web]\nidle_minutes = 0\n",
               "[web] idle_minutes: expected a whole number from 1 to 1440, got \"0\"");
  expect_error("[web]\nidle_seconds = 0\n",
               "[web] idle_seconds: expected a whole number from 1 to 86400, got \"0\"");
  /* idle_seconds, given, replaces idle_minutes whichever comes first. */
  if (mc_registry_parse(sample("[web]\nidle_seconds = 5\nidle_minutes = 20\n"), "sample.conf",
                        &reg, &err) != MC_OK)
    fail_msg("%s", err.msg);
  assert_int_equal(reg->web.idle_ms, 5000);
  mc_registry_free(reg);
  expect_error("[web police-studio]\ncolour = blue\n", "[web police-studio] colour: unknown key");
  expect_error("[web]\nlisten = x\n", "[web] listen: unknown key");
  expect_error("[web \"Bad\"]\ndata_dir = /x\n", "section id \"Bad\" must be");
}

/* A cluster's routers: [cluster <id>] per node, raft mode only; a bad id, a
 * half section or a shared address is named. */
static void test_cluster_sections(void **state) {
  (void)state;
  make_key();
  mc_registry *reg = NULL;
  mc_err err;
  const char *cluster = "[storage]\nmode = raft\n"
                        "[cluster 1]\nendpoint = tcp://10.0.0.1:7000\nraft_address = 10.0.0.1:7100\n"
                        "[cluster 2]\nendpoint = tcp://10.0.0.2:7000\nraft_address = 10.0.0.2:7100\n"
                        "data_dir = /var/lib/mediation/node2\n";
  if (mc_registry_parse(sample(cluster), "sample.conf", &reg, &err) != MC_OK)
    fail_msg("%s", err.msg);
  assert_int_equal(reg->n_nodes, 2);
  const mc_router_node *n2 = mc_registry_node(reg, 2);
  assert_non_null(n2);
  assert_string_equal(n2->endpoint, "tcp://10.0.0.2:7000");
  assert_string_equal(n2->raft_address, "10.0.0.2:7100");
  assert_string_equal(n2->data_dir, "/var/lib/mediation/node2");
  assert_null(mc_registry_node(reg, 1)->data_dir);
  assert_null(mc_registry_node(reg, 3));
  mc_registry_free(reg);
  if (mc_registry_parse(sample(""), "sample.conf", &reg, &err) != MC_OK)
    fail_msg("%s", err.msg);
  assert_int_equal(reg->n_nodes, 0); /* no [cluster]: one router */
  mc_registry_free(reg);

  expect_error("[storage]\nmode = raft\n[cluster 0]\nendpoint = a\nraft_address = b\n",
               "[cluster 0]: the id must be a number from 1 to 65535");
  expect_error("[storage]\nmode = raft\n[cluster 65536]\nendpoint = a\nraft_address = b\n",
               "[cluster 65536]: the id must be a number from 1 to 65535");
  expect_error("[storage]\nmode = raft\n[cluster r1]\nendpoint = a\nraft_address = b\n",
               "[cluster r1]: the id must be a number");
  expect_error("[storage]\nmode = raft\n[cluster 1]\nendpoint = a\n",
               "[cluster 1] needs both endpoint and raft_address");
  expect_error("[cluster 1]\nendpoint = a\nraft_address = b\n",
               "[cluster 1] needs [storage] mode = raft");
  expect_error("[storage]\nmode = raft\n[cluster 1]\nendpoint = a\nraft_address = b\n"
               "[cluster 2]\nendpoint = c\nraft_address = b\n",
               "[cluster 1] and [cluster 2] share an endpoint or raft_address");
  expect_error("[cluster 1]\nport = 1\n", "[cluster 1] port: unknown key");
}

/* The routers clients talk to (mc_registry_router_endpoints): the nodes in
 * raft-id order whatever the file's order, or [router] endpoint alone. */
static void test_router_endpoints(void **state) {
  (void)state;
  make_key();
  mc_registry *reg = NULL;
  mc_err err;
  const char *cluster = "[storage]\nmode = raft\n"
                        "[cluster 7]\nendpoint = tcp://10.0.0.7:7000\nraft_address = 10.0.0.7:7100\n"
                        "[cluster 2]\nendpoint = tcp://10.0.0.2:7000\nraft_address = 10.0.0.2:7100\n"
                        "[cluster 30]\nendpoint = tcp://10.0.0.30:7000\nraft_address = 10.0.0.30:7100\n";
  if (mc_registry_parse(sample(cluster), "sample.conf", &reg, &err) != MC_OK)
    fail_msg("%s", err.msg);
  const char *urls[4] = {NULL};
  assert_int_equal(mc_registry_router_endpoints(reg, urls, 4), 3);
  assert_string_equal(urls[0], "tcp://10.0.0.2:7000");
  assert_string_equal(urls[1], "tcp://10.0.0.7:7000");
  assert_string_equal(urls[2], "tcp://10.0.0.30:7000");
  assert_null(urls[3]);
  const char *two[2] = {NULL};
  assert_int_equal(mc_registry_router_endpoints(reg, two, 2), 3); /* too small: says how many */
  assert_string_equal(two[1], "tcp://10.0.0.7:7000");
  assert_int_equal(mc_registry_router_endpoints(reg, NULL, 0), 3);
  mc_registry_free(reg);
  if (mc_registry_parse(sample(""), "sample.conf", &reg, &err) != MC_OK)
    fail_msg("%s", err.msg);
  assert_int_equal(mc_registry_router_endpoints(reg, urls, 4), 1);
  assert_string_equal(urls[0], reg->router.endpoint);
  mc_registry_free(reg);
}

/* The reminders' keys (mediation-remind): [remind] once, and a unit's mail
 * route and robot in its [unit] section; a half mail route, an unknown
 * robot or a time that is not HH:MM is named. */
static void test_remind_keys(void **state) {
  (void)state;
  make_key();
  mc_registry *reg = NULL;
  mc_err err;
  const char *remind = "[remind]\n"
                       "data_dir = /var/lib/mediation/remind\n"
                       "principal = zhang\n"
                       "check_minutes = 2\n"
                       "offer_wait = 12h\n"
                       "[unit police-studio]\n"
                       "smtp_url = smtp://relay.baihe.test:25\n"
                       "mail_from = remind@baihe.test\n"
                       "mail_to = a@baihe.test\n"
                       "mail_to = b@baihe.test\n"
                       "webhook_url = https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k\n"
                       "digest_at = 07:30\n"
                       "[unit marriage-studio]\n"
                       "webhook_url = https://oapi.dingtalk.com/robot/send?access_token=t\n"
                       "webhook_kind = dingtalk\n";
  if (mc_registry_parse(sample(remind), "sample.conf", &reg, &err) != MC_OK)
    fail_msg("%s", err.msg);
  assert_string_equal(reg->remind.data_dir, "/var/lib/mediation/remind");
  assert_string_equal(reg->remind.principal, "zhang");
  assert_int_equal(reg->remind.check_ms, 2 * 60 * 1000);
  assert_int_equal(reg->remind.offer_wait_ms, 12LL * 3600 * 1000);
  assert_int_equal(reg->remind.due_soon_ms, 48LL * 3600 * 1000); /* the default */
  const mc_unit *p = mc_registry_unit(reg, "police-studio");
  assert_int_equal(p->remind.n_mail_to, 2);
  assert_string_equal(p->remind.mail_to[1], "b@baihe.test");
  assert_string_equal(p->remind.digest_at, "07:30");
  assert_null(p->remind.webhook_kind);
  const mc_unit *m = mc_registry_unit(reg, "marriage-studio");
  assert_string_equal(m->remind.webhook_kind, "dingtalk");
  assert_null(m->remind.smtp_url);
  mc_registry_free(reg);

  expect_error("[unit police-studio]\nsmtp_url = smtp://relay:25\nmail_to = a@b\n",
               "[unit police-studio] reminders by mail need smtp_url, mail_from and at least "
               "one mail_to");
  expect_error("[unit police-studio]\nmail_to = a@b\n", "reminders by mail need");
  expect_error("[unit police-studio]\nwebhook_url = http://x\nwebhook_kind = slack\n",
               "[unit police-studio] webhook_kind: expected wecom or dingtalk, got \"slack\"");
  expect_error("[unit police-studio]\ndigest_at = 8:00\n",
               "[unit police-studio] digest_at: expected a time of day HH:MM, got \"8:00\"");
  expect_error("[unit police-studio]\ndigest_at = 24:00\n", "digest_at: expected");
  expect_error("[remind]\nprincipal = police-desk\n",
               "[remind] principal \"police-desk\" is not a [coordinator] section");
  expect_error("[remind]\ncheck_minutes = 0\n",
               "[remind] check_minutes: expected a whole number from 1 to 1440, got \"0\"");
}

/* Names people use: aliases find their unit or community, every id, name
 * and alias is unique across both, and a near miss is suggested. */
static void test_aliases(void **state) {
  (void)state;
  make_key();
  mc_registry *reg = NULL;
  mc_err err;
  const char *extra = "[unit police-studio]\nalias = 大石头\nalias = 派出所调解室\n"
                      "[community kongque]\nalias = 孔雀\n";
  if (mc_registry_parse(sample(extra), "sample.conf", &reg, &err) != MC_OK)
    fail_msg("%s", err.msg);
  const mc_unit *police = mc_registry_unit(reg, "police-studio");
  assert_int_equal(police->n_aliases, 2);
  assert_ptr_equal(mc_registry_find_unit(reg, "大石头"), police);
  assert_ptr_equal(mc_registry_find_unit(reg, "派出所调解室"), police);
  assert_ptr_equal(mc_registry_find_community(reg, "孔雀"), mc_registry_community(reg, "kongque"));
  /* an alias of a unit is not a community, nor the other way round */
  assert_null(mc_registry_find_community(reg, "大石头"));
  assert_null(mc_registry_find_unit(reg, "孔雀"));
  /* did you mean: by code points, not bytes; nothing when far */
  assert_string_equal(mc_registry_suggest(reg, true, "大石"), "大石头");
  assert_string_equal(mc_registry_suggest(reg, true, "police-stduio"), "police-studio");
  assert_string_equal(mc_registry_suggest(reg, true, "宋大姐调解工作"), "宋大姐调解工作室");
  assert_string_equal(mc_registry_suggest(reg, false, "孔雀社"), "孔雀社区");
  assert_string_equal(mc_registry_suggest(reg, false, "kongqu"), "kongque");
  assert_null(mc_registry_suggest(reg, true, "法院"));
  assert_null(mc_registry_suggest(reg, false, "大石头"));
  assert_null(mc_registry_suggest(reg, true, ""));
  assert_null(mc_registry_suggest(reg, true, "\xff\xfe"));
  mc_registry_free(reg);

  expect_error("[unit marriage-studio]\nalias = 大石头调解工作室\n",
               "\"大石头调解工作室\" names both [unit police-studio] and [unit marriage-studio]");
  expect_error("[community wangai]\nalias = police-studio\n",
               "\"police-studio\" names both [unit police-studio] and [community wangai]");
  expect_error("[unit police-studio]\nalias = 孔雀\n[community kongque]\nalias = 孔雀\n",
               "\"孔雀\" names both [unit police-studio] and [community kongque]");
  expect_error("[unit police-studio]\nalias = 王隘社区\n", "must all differ");
}

static void test_missing_file(void **state) {
  (void)state;
  mc_registry *reg = NULL;
  mc_err err;
  assert_int_equal(mc_registry_load("/nonexistent/mediation.conf", &reg, &err), MC_NOT_FOUND);
  assert_non_null(strstr(err.msg, "/nonexistent/mediation.conf: cannot open"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sample_loads),
      cmocka_unit_test(test_mistakes_are_named),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_web_sections),
      cmocka_unit_test(test_cluster_sections),
      cmocka_unit_test(test_router_endpoints),
      cmocka_unit_test(test_remind_keys),
      cmocka_unit_test(test_aliases),
      cmocka_unit_test(test_missing_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
