/*
 * i18n.h - messages in the reader's language, through GNU gettext.
 *
 * English is the source language; po/zh_CN.po holds the Chinese, which
 * msgfmt compiles at build time (po/CMakeLists.txt). Every program calls
 * mc_i18n_init first thing in main; after that _() translates into the
 * language of the process (LANG, LC_MESSAGES), or - on a server thread
 * that answers a request - into the language the request asked for:
 * rpc clients put their language in RequestEnvelope.locale, the rpc server
 * and the router's writer switch the thread to it (mc_i18n_use) while they
 * build the reply, so one router answers a Chinese and an English caller
 * each in their own language. setlocale is process-wide and not
 * thread-safe; uselocale is per thread, and glibc's gettext reads
 * LC_MESSAGES from the thread's locale.
 *
 * Marks (xgettext's keywords, po/CMakeLists.txt passes the same list):
 *   _("text")            translated here
 *   N_("text")           only marked: a table entry translated where shown
 *   C_("ctx", "text")    translated, with a context that tells two equal
 *                        English texts apart (an action's name, a state's)
 *   NC_("ctx", "text")   only marked, with a context; mc_pgettext shows it
 * Status codes never change with the language: only the message text does.
 */
#ifndef MC_I18N_H
#define MC_I18N_H

#include <libintl.h>
#include <locale.h>

#define MC_TEXTDOMAIN "mediation"

#define _(s) dgettext(MC_TEXTDOMAIN, s)
#define N_(s) s
#define C_(ctx, s) mc_pgettext(ctx "\004" s)
#define NC_(ctx, s) ctx "\004" s

/* The language tags a request may carry, and the most a tag may hold. */
#define MC_LOCALE_MAX 32

/* Sets the process's locale from the environment (LC_ALL, LC_MESSAGES,
 * LANG; LC_NUMERIC stays "C" so numbers are written the same in every
 * language), and binds the text domain to the locale directory: the
 * environment's MEDIATION_LOCALEDIR if set, else the build tree's when
 * the program runs from the build tree, else the install's. A language
 * whose locale is not generated on the machine falls back to English
 * without a word. Call once, from main, before any thread starts. */
void mc_i18n_init(void);

/* Translates a context-marked text (C_, NC_: "context\004text"): the text
 * after the context when it has no translation. */
const char *mc_pgettext(const char *ctx_and_text) __attribute__((format_arg(1)));

/* The language this thread's messages are in, as a request carries it:
 * "zh_CN" or "C" (English), or "" when it is the process's default
 * and that is neither. Never NULL. */
const char *mc_i18n_current(void);

/* Switches this thread's messages to the language tag (from a request:
 * "zh_CN.UTF-8", "zh", "zh-CN", "en", "C" ...; anything after the
 * language part is ignored, so no caller-supplied name reaches the
 * locale loader). An empty, unknown or ungenerated language leaves the
 * thread as it is. Returns what mc_i18n_restore needs to switch back. */
locale_t mc_i18n_use(const char *tag);

/* Switches this thread back to what mc_i18n_use returned. */
void mc_i18n_restore(locale_t previous);

#endif /* MC_I18N_H */
