/*
 * csv.h - CSV that spreadsheets open correctly: what `--csv` writes (list,
 * figures, and any command that prints a table).
 *
 * The rules are RFC 4180's, plus what Excel needs to read Chinese:
 *   - the file starts with the UTF-8 byte order mark (EF BB BF): without it
 *     Excel on a Chinese Windows reads UTF-8 as GBK and shows mojibake;
 *   - records end with CRLF;
 *   - a field is quoted when it holds a comma, a double quote, CR or LF, or
 *     starts or ends with a space; a quote inside is doubled;
 *   - a field starting with = + - @ or a tab would be run as a formula by a
 *     spreadsheet (CSV injection, party names come from outside): it is
 *     written with a leading apostrophe, which spreadsheets hide.
 * Field text is written as given otherwise (UTF-8, newlines kept).
 *
 * Usage: ctl_csv_begin(out) once, then ctl_csv_row(out, cells, n) per record.
 * Both return 0, or -1 when writing failed (errno from stdio).
 */
#ifndef CTL_CSV_H
#define CTL_CSV_H

#include <stddef.h>
#include <stdio.h>

/* Writes the UTF-8 byte order mark. */
int ctl_csv_begin(FILE *out);

/* Writes one record of n fields (NULL is written as an empty field). */
int ctl_csv_row(FILE *out, const char *const *cells, size_t n);

#endif /* CTL_CSV_H */
