/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-table.h: ckptctl's human output of what the daemon replies: tables of
 * strings with columns padded to their widest cell (like systemctl's), JSON
 * objects and arrays of objects shown generically as "key: value" lines and
 * tables, and label values of the Prometheus text format. A struct table owns
 * copies of its cells; it borrows its headers and alignment. Any JSON the
 * daemon sends is shown, however it is shaped: what is not an object or an
 * array of objects is shown as its text. Functions returning int give 0 or
 * -ENOMEM. Linked into ckptctl and the fuzz targets, not into libckpt.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

#include "ckpt/macro-fundamental.h"

struct table {
        size_t n_cols;
        const char *const *headers;
        const bool *right; /* right-align this column */
        char **cells;
        size_t n_cells, alloc;
};

/* One cell, rows filled left to right; NULL shows as "-". */
int table_add(struct table *t, const char *s);
_printf_(2, 3) int table_addf(struct table *t, const char *fmt, ...);
/* Headers and cells to f; nothing when the table has over 32 columns. */
void table_print(struct table *t, FILE *f);
void table_done(struct table *t);
#define _cleanup_table_ __attribute__((cleanup(table_done)))

/* The value of key in o as a table cell: scalars as their text, arrays and
 * objects as plain JSON, absent or null as "-". Owned by o. */
const char *table_json_cell(struct json_object *o, const char *key);

/* A row of a diff that says nothing: same state and no page counted. */
bool table_diff_row_unchanged(struct json_object *e);

/* An array of objects as a table, its columns named after the first
 * object's keys (upper-cased, at most 32); rows for which skip() is true are
 * left out. Nothing when the first element is not an object. */
int table_print_array(FILE *f, struct json_object *a, bool (*skip)(struct json_object *e));

/* An object as "key: value" lines, its arrays of objects as tables. */
int table_print_object(FILE *f, struct json_object *o);

/* v (NULL: "") quoted as a Prometheus label value: \, " and newline escaped. */
void table_print_label(FILE *f, const char *v);
