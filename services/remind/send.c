/*
 * send.c - handing a reminder to an SMTP relay or a group robot, through
 * libcurl (see remind.h).
 *
 * Mail: a plain-text UTF-8 message, body and subject in base64 (RFC 2045,
 * RFC 2047) so any relay carries Chinese unharmed. Robot: the JSON text
 * message WeCom and DingTalk group robots both take,
 * {"msgtype":"text","text":{"content":"..."}}, accepted when the answer is
 * HTTP 2xx and, if it carries one, errcode 0 (both robots answer HTTP 200
 * with an errcode for a refused message). WeCom refuses content over 2048
 * bytes, so robot text is cut at a character boundary below that and says
 * so; the mail carries it whole. A DingTalk robot secured by keyword needs
 * one of 调解/提醒 (every message has both); signed robots are not
 * supported (the signing secret would have to sit in mediation.conf).
 * Errors never quote the URL: a robot's URL holds its key.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/remind/remind.h"

#define SEND_TIMEOUT_S 30L
#define ROBOT_MAX_BYTES 2000 /* WeCom: content at most 2048 bytes */

bool rm_send_init(void) { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }
void rm_send_cleanup(void) { curl_global_cleanup(); }

typedef struct text {
  char *s;
  size_t n, cap;
  bool oom;
} text;

static void add(text *t, const char *s, size_t n) {
  if (t->oom)
    return;
  if (t->n + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 1024;
    while (cap < t->n + n + 1)
      cap *= 2;
    char *p = realloc(t->s, cap);
    if (p == NULL) {
      t->oom = true;
      return;
    }
    t->s = p;
    t->cap = cap;
  }
  memcpy(t->s + t->n, s, n);
  t->n += n;
  t->s[t->n] = '\0';
}

static void adds(text *t, const char *s) { add(t, s, strlen(s)); }

static void base64(text *t, const unsigned char *p, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)p[i] << 16;
    if (i + 1 < n)
      v |= (unsigned)p[i + 1] << 8;
    if (i + 2 < n)
      v |= p[i + 2];
    char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63], i + 1 < n ? tab[(v >> 6) & 63] : '=',
                 i + 2 < n ? tab[v & 63] : '='};
    add(t, q, 4);
  }
}

/* Bytes of s that end on a UTF-8 character boundary, at most max. */
static size_t utf8_cut(const char *s, size_t len, size_t max) {
  if (len <= max)
    return len;
  size_t n = max;
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
    n--;
  return n;
}

/* Subject: RFC 2047 encoded words of whole characters, folded. */
static void subject_header(text *t, const char *subject) {
  adds(t, "Subject:");
  size_t len = strlen(subject), off = 0;
  while (off < len) {
    size_t n = utf8_cut(subject + off, len - off, 42);
    if (n == 0)
      n = len - off < 42 ? len - off : 42; /* not UTF-8: cut anywhere */
    adds(t, off == 0 ? " =?UTF-8?B?" : "\r\n =?UTF-8?B?");
    base64(t, (const unsigned char *)subject + off, n);
    adds(t, "?=");
    off += n;
  }
  adds(t, "\r\n");
}

static char *mail_message(const mc_unit *unit, const char *subject, const char *body,
                          int64_t now_ms) {
  text t = {0};
  char line[512];
  time_t secs = (time_t)(now_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  snprintf(line, sizeof(line), "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
           days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
           tm.tm_min, tm.tm_sec);
  adds(&t, line);
  snprintf(line, sizeof(line), "From: <%s>\r\n", unit->remind.mail_from);
  adds(&t, line);
  for (size_t i = 0; i < unit->remind.n_mail_to; i++) {
    snprintf(line, sizeof(line), "%s<%s>", i == 0 ? "To: " : ",\r\n ", unit->remind.mail_to[i]);
    adds(&t, line);
  }
  adds(&t, "\r\n");
  subject_header(&t, subject);
  snprintf(line, sizeof(line), "Message-ID: <%lld.%s.%08x@mediation-remind>\r\n",
           (long long)now_ms, unit->id, (unsigned)rand());
  adds(&t, line);
  adds(&t, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
           "Content-Transfer-Encoding: base64\r\nAuto-Submitted: auto-generated\r\n\r\n");
  size_t len = strlen(body);
  for (size_t off = 0; off < len; off += 57) {
    base64(&t, (const unsigned char *)body + off, len - off < 57 ? len - off : 57);
    adds(&t, "\r\n");
  }
  if (t.oom) {
    free(t.s);
    return NULL;
  }
  return t.s;
}

typedef struct reader {
  const char *s;
  size_t left;
} reader;

static size_t read_cb(char *out, size_t size, size_t nmemb, void *arg) {
  reader *r = arg;
  size_t n = size * nmemb < r->left ? size * nmemb : r->left;
  memcpy(out, r->s, n);
  r->s += n;
  r->left -= n;
  return n;
}

static size_t keep_cb(char *in, size_t size, size_t nmemb, void *arg) {
  text *t = arg;
  size_t n = size * nmemb;
  if (t->n + n <= 64 * 1024) /* a robot's answer is tiny; keep no more */
    add(t, in, n);
  return n;
}

mc_code rm_send_mail(const mc_unit *unit, const char *subject, const char *body, int64_t now_ms,
                     mc_err *err) {
  char *msg = mail_message(unit, subject, body, now_ms);
  CURL *curl = msg != NULL ? curl_easy_init() : NULL;
  if (curl == NULL) {
    free(msg);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  }
  char from[512], errbuf[CURL_ERROR_SIZE] = "";
  snprintf(from, sizeof(from), "<%s>", unit->remind.mail_from);
  struct curl_slist *rcpt = NULL;
  bool ok = true;
  for (size_t i = 0; i < unit->remind.n_mail_to && ok; i++) {
    char to[512];
    snprintf(to, sizeof(to), "<%s>", unit->remind.mail_to[i]);
    struct curl_slist *l = curl_slist_append(rcpt, to);
    ok = l != NULL;
    if (ok)
      rcpt = l;
  }
  reader r = {msg, strlen(msg)};
  curl_easy_setopt(curl, CURLOPT_URL, unit->remind.smtp_url);
  curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_cb);
  curl_easy_setopt(curl, CURLOPT_READDATA, &r);
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, SEND_TIMEOUT_S);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode cc = ok ? curl_easy_perform(curl) : CURLE_OUT_OF_MEMORY;
  curl_slist_free_all(rcpt);
  curl_easy_cleanup(curl);
  free(msg);
  if (cc != CURLE_OK)
    return mc_err_set(err, MC_UNAVAILABLE, "the SMTP relay did not take the mail: %s",
                      errbuf[0] ? errbuf : curl_easy_strerror(cc));
  return MC_OK;
}

/* The robot's JSON text message, cut to what WeCom accepts. Caller frees. */
static char *robot_json(const char *subject, const char *body) {
  text t = {0};
  adds(&t, subject);
  adds(&t, "\n\n");
  adds(&t, body);
  if (t.oom)
    return free(t.s), NULL;
  static const char cut_note[] = "\n……（内容过长已截断，完整内容请登录调解平台查看）";
  if (t.n > ROBOT_MAX_BYTES) {
    t.n = utf8_cut(t.s, t.n, ROBOT_MAX_BYTES - sizeof(cut_note));
    t.s[t.n] = '\0';
    adds(&t, cut_note);
  }
  json_object *root = json_object_new_object(), *txt = json_object_new_object();
  char *out = NULL;
  if (root != NULL && txt != NULL && !t.oom) {
    json_object_object_add(txt, "content", json_object_new_string(t.s));
    json_object_object_add(root, "msgtype", json_object_new_string("text"));
    json_object_object_add(root, "text", txt);
    txt = NULL;
    const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE);
    out = s != NULL ? strdup(s) : NULL;
  }
  json_object_put(txt);
  json_object_put(root);
  free(t.s);
  return out;
}

mc_code rm_send_webhook(const mc_unit *unit, const char *subject, const char *body,
                        mc_err *err) {
  const char *kind = unit->remind.webhook_kind ? unit->remind.webhook_kind : "wecom";
  char *json = robot_json(subject, body);
  CURL *curl = json != NULL ? curl_easy_init() : NULL;
  struct curl_slist *hdr = curl != NULL
                               ? curl_slist_append(NULL, "Content-Type: application/json; "
                                                         "charset=utf-8")
                               : NULL;
  if (hdr == NULL) {
    if (curl != NULL)
      curl_easy_cleanup(curl);
    free(json);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  }
  char errbuf[CURL_ERROR_SIZE] = "";
  text answer = {0};
  curl_easy_setopt(curl, CURLOPT_URL, unit->remind.webhook_url);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_cb);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, SEND_TIMEOUT_S);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode cc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hdr);
  curl_easy_cleanup(curl);
  free(json);
  mc_code rc = MC_OK;
  if (cc != CURLE_OK) {
    rc = mc_err_set(err, MC_UNAVAILABLE, "the %s robot was not reached: %s", kind,
                    errbuf[0] ? errbuf : curl_easy_strerror(cc));
  } else if (status < 200 || status > 299) {
    rc = mc_err_set(err, MC_UNAVAILABLE, "the %s robot answered HTTP %ld", kind, status);
  } else {
    json_object *a = answer.s != NULL ? json_tokener_parse(answer.s) : NULL, *code = NULL;
    if (a != NULL && json_object_object_get_ex(a, "errcode", &code) &&
        json_object_get_int64(code) != 0) {
      json_object *msg = NULL;
      json_object_object_get_ex(a, "errmsg", &msg);
      rc = mc_err_set(err, MC_UNAVAILABLE, "the %s robot refused the message: errcode %lld %.80s",
                      kind, (long long)json_object_get_int64(code),
                      msg ? json_object_get_string(msg) : "");
    }
    json_object_put(a);
  }
  free(answer.s);
  return rc;
}
