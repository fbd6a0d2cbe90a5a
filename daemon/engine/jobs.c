/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* jobs.c: the worker pool; see jobs.h. */
#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"

#define MAX_THREADS 8

struct workers {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct job *queue, *done; /* singly linked, queue in FIFO order */
        uint64_t running_keys[MAX_THREADS];
        pthread_t threads[MAX_THREADS];
        unsigned n_threads, n_running, n_queued;
        bool stop;
        int efd;
        sd_event_source *src;
};

/* First queued job whose key is not running; unlinked. Lock held. */
static struct job *pick(struct workers *w)
{
        for (struct job **p = &w->queue; *p; p = &(*p)->next) {
                struct job *j = *p;
                bool busy = false;

                for (unsigned i = 0; j->key && i < w->n_threads; i++)
                        if (w->running_keys[i] == j->key)
                                busy = true;
                if (busy)
                        continue;
                *p = j->next;
                j->next = NULL;
                w->n_queued--;
                return j;
        }
        return NULL;
}

static void push_done(struct workers *w, struct job *j)
{
        struct job **p = &w->done;

        while (*p)
                p = &(*p)->next;
        *p = j;
}

struct worker_arg {
        struct workers *w;
        unsigned slot;
};

static void *worker_main(void *userdata)
{
        struct worker_arg *a = userdata;
        struct workers *w = a->w;
        unsigned slot = a->slot;
        uint64_t one = 1;

        free(a);
        pthread_mutex_lock(&w->lock);
        for (;;) {
                struct job *j = NULL;

                while (!w->stop && !(j = pick(w)))
                        pthread_cond_wait(&w->cond, &w->lock);
                if (w->stop)
                        break;
                w->running_keys[slot] = j->key;
                w->n_running++;
                pthread_mutex_unlock(&w->lock);

                j->run(j);

                pthread_mutex_lock(&w->lock);
                w->running_keys[slot] = 0;
                w->n_running--;
                push_done(w, j);
                pthread_cond_broadcast(&w->cond); /* a job of the same key may now run */
                if (write(w->efd, &one, sizeof(one)) < 0) {
                        /* eventfd cannot overflow at our rates */
                }
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

static void drain_done(struct workers *w)
{
        struct job *list;

        pthread_mutex_lock(&w->lock);
        list = TAKE_PTR(w->done);
        pthread_mutex_unlock(&w->lock);

        while (list) {
                struct job *j = list;
                list = j->next;
                j->next = NULL;
                j->done(j);
        }
}

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct workers *w = userdata;
        uint64_t v;

        if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_warning_errno(-errno, "jobs: eventfd read failed, ignoring: %m");
        drain_done(w);
        return 0;
}

int workers_new(sd_event *e, unsigned n_threads, struct workers **ret)
{
        struct workers *w;
        sigset_t all, old;
        int r;

        if (n_threads == 0 || n_threads > MAX_THREADS)
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->efd < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(e, &w->src, w->efd, EPOLLIN, on_done, w);
        if (r < 0)
                goto fail;

        /* Workers never take signals: the loop handles them with signalfd. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        for (unsigned i = 0; i < n_threads; i++) {
                struct worker_arg *a = malloc(sizeof(*a));

                if (!a) {
                        r = -ENOMEM;
                        break;
                }
                *a = (struct worker_arg){w, i};
                r = -pthread_create(&w->threads[i], NULL, worker_main, a);
                if (r < 0) {
                        free(a);
                        break;
                }
                w->n_threads++;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                goto fail;
        *ret = w;
        return 0;
fail:
        workers_free(w);
        return r;
}

void workers_submit(struct workers *w, struct job *j)
{
        struct job **p;

        j->next = NULL;
        j->result = 0;
        pthread_mutex_lock(&w->lock);
        for (p = &w->queue; *p; p = &(*p)->next)
                ;
        *p = j;
        w->n_queued++;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

unsigned workers_pending(struct workers *w)
{
        unsigned n;

        pthread_mutex_lock(&w->lock);
        n = w->n_queued + w->n_running;
        pthread_mutex_unlock(&w->lock);
        return n;
}

void workers_cancel_queued(struct workers *w)
{
        struct job *list;

        pthread_mutex_lock(&w->lock);
        list = TAKE_PTR(w->queue);
        w->n_queued = 0;
        pthread_mutex_unlock(&w->lock);

        while (list) {
                struct job *j = list;
                list = j->next;
                j->next = NULL;
                j->result = -ECANCELED;
                j->done(j);
        }
}

struct workers *workers_free(struct workers *w)
{
        if (!w)
                return NULL;
        workers_cancel_queued(w);
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        /* A running job finishes first: a thread only sees `stop` between jobs. */
        for (unsigned i = 0; i < w->n_threads; i++)
                pthread_join(w->threads[i], NULL);
        drain_done(w);
        sd_event_source_disable_unref(w->src);
        safe_close(w->efd);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
}
