/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * log.c: the one place that writes log lines. Thread-safe (one write(2) per
 * line); never allocates on the error path. Under systemd (JOURNAL_STREAM set
 * and matching stderr) messages go to the journal with structured fields.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

int log_max_level = LOG_INFO;

static int use_journal;
static __thread long field_pid;
static __thread unsigned long long field_id;

void log_set_fields(long pid, unsigned long long id)
{
        field_pid = pid;
        field_id = id;
}

void log_open_journal(void)
{
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        /* Only when our stderr is the very stream systemd connected. */
        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return;
        if (fstat(STDERR_FILENO, &st) < 0)
                return;
        use_journal = (st.st_dev == dev && st.st_ino == ino);
}

int log_level_from_string(const char *s)
{
        static const char *const names[] = {"emerg",   "alert",  "crit", "err",
                                            "warning", "notice", "info", "debug"};

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcasecmp(s, names[i]) == 0)
                        return (int)i;
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        if (strcasecmp(s, "warn") == 0)
                return LOG_WARNING;
        return -EINVAL;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
{
        char msg[2048];
        int saved = errno;
        va_list ap;
        int n;

        if (error != 0)
                errno = abs(error);
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (use_journal) {
                char lbuf[16];

                snprintf(lbuf, sizeof(lbuf), "%d", line);
                if (field_pid > 0)
                        sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", level, "CODE_FILE=%s",
                                        file, "CODE_LINE=%s", lbuf, "CKPT_PID=%ld", field_pid,
                                        field_id ? "CKPT_ID=%llu" : NULL, field_id, NULL);
                else
                        sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", level, "CODE_FILE=%s",
                                        file, "CODE_LINE=%s", lbuf, NULL);
        } else {
                char out[2100];

                n = snprintf(out, sizeof(out), "<%d>%s\n", level, msg);
                if (n > (int)sizeof(out) - 1)
                        n = sizeof(out) - 1;
                if (write(STDERR_FILENO, out, n) < 0) {
                        /* Nowhere left to report it. */
                }
        }
        errno = saved;
        return error == 0 ? 0 : -abs(error);
}
