/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-table.c: ckptctl's tables and its generic output of the daemon's JSON
 * (see ctl-table.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-table.h"

int table_add(struct table *t, const char *s)
{
        if (t->n_cells == t->alloc) {
                size_t a = t->alloc ? t->alloc * 2 : 64;
                char **p = realloc(t->cells, a * sizeof(char *));
                if (!p)
                        return -ENOMEM;
                t->cells = p;
                t->alloc = a;
        }
        t->cells[t->n_cells] = strdup(s ? s : "-");
        if (!t->cells[t->n_cells])
                return -ENOMEM;
        t->n_cells++;
        return 0;
}

int table_addf(struct table *t, const char *fmt, ...)
{
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        return table_add(t, s);
}

void table_print(struct table *t, FILE *f)
{
        size_t w[32] = {0};

        if (t->n_cols > ELEMENTSOF(w))
                return;
        for (size_t j = 0; j < t->n_cols; j++)
                w[j] = strlen(t->headers[j]);
        for (size_t i = 0; i < t->n_cells; i++)
                w[i % t->n_cols] = MAX(w[i % t->n_cols], strlen(t->cells[i]));

        for (size_t i = 0; i < t->n_cells + t->n_cols; i++) {
                size_t j = i % t->n_cols;
                const char *s = i < t->n_cols ? t->headers[i] : t->cells[i - t->n_cols];
                bool last = j + 1 == t->n_cols;

                if (t->right && t->right[j])
                        fprintf(f, "%*s", (int)w[j], s);
                else if (last)
                        fputs(s, f);
                else
                        fprintf(f, "%-*s", (int)w[j], s);
                fputs(last ? "\n" : "  ", f);
        }
}

void table_done(struct table *t)
{
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
}

const char *table_json_cell(struct json_object *o, const char *key)
{
        struct json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v) || !v)
                return "-";
        if (json_object_is_type(v, json_type_array) || json_object_is_type(v, json_type_object))
                return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
        return json_object_get_string(v);
}

static bool json_is_zero(struct json_object *o, const char *key)
{
        struct json_object *v;

        return !json_object_object_get_ex(o, key, &v) || !v || json_object_get_int64(v) == 0;
}

bool table_diff_row_unchanged(struct json_object *e)
{
        struct json_object *v;

        if (json_object_object_get_ex(e, "state", &v) && v &&
            strcmp(json_object_get_string(v), "same") != 0)
                return false;
        return json_is_zero(e, "changed") && json_is_zero(e, "added") && json_is_zero(e, "removed");
}

int table_print_array(FILE *f, struct json_object *a, bool (*skip)(struct json_object *e))
{
        const char *h[32];
        size_t n_cols = 0, n = json_object_array_length(a);
        struct json_object *first = json_object_array_get_idx(a, 0);
        _cleanup_free_ char *upper = NULL;
        size_t used = 0;

        if (!first || !json_object_is_type(first, json_type_object))
                return 0;
        upper = malloc(4096);
        if (!upper)
                return -ENOMEM;
        json_object_object_foreach (first, k, _v) {
                (void)_v;
                size_t l = strlen(k);
                if (n_cols == ELEMENTSOF(h) || used + l + 1 > 4096)
                        break;
                for (size_t i = 0; i <= l; i++)
                        upper[used + i] = (char)(k[i] >= 'a' && k[i] <= 'z' ? k[i] - 32 : k[i]);
                h[n_cols++] = upper + used;
                used += l + 1;
        }
        _cleanup_table_ struct table t = {.n_cols = n_cols, .headers = h};
        for (size_t i = 0; i < n; i++) {
                struct json_object *e = json_object_array_get_idx(a, i);
                size_t j = 0;

                if (skip && skip(e))
                        continue;
                json_object_object_foreach (first, k2, v2) {
                        (void)v2;
                        if (j++ == n_cols)
                                break;
                        if (table_add(&t, table_json_cell(e, k2)) < 0)
                                return -ENOMEM;
                }
        }
        table_print(&t, f);
        return 0;
}

int table_print_object(FILE *f, struct json_object *o)
{
        if (!o)
                return 0;
        json_object_object_foreach (o, k, v) {
                if (v && json_object_is_type(v, json_type_array) &&
                    json_object_array_length(v) > 0 &&
                    json_object_is_type(json_object_array_get_idx(v, 0), json_type_object)) {
                        fprintf(f, "%s:\n", k);
                        if (table_print_array(f, v, NULL) < 0)
                                return -ENOMEM;
                } else
                        fprintf(f, "%s: %s\n", k, table_json_cell(o, k));
        }
        return 0;
}

void table_print_label(FILE *f, const char *v)
{
        fputc('"', f);
        for (const char *p = v ? v : ""; *p; p++) {
                if (*p == '\\' || *p == '"')
                        fprintf(f, "\\%c", *p);
                else if (*p == '\n')
                        fputs("\\n", f);
                else
                        fputc(*p, f);
        }
        fputc('"', f);
}
