/*
 * commit.c: group commit. One thread owns the spool's connection; request threads hand
 * it jobs (each one request's events, already checked) and suspend their connection.
 * Whenever it is free, the committer takes every job waiting, stores them all in one
 * transaction and commits: one fsync (synchronous=FULL) for the whole group. Then it
 * answers each job. A request is all or nothing even inside a group: if anything of
 * the group fails, the whole transaction is rolled back and every job of it fails.
 *
 * While one group's fsync runs, the next group gathers, so a fleet of clients shares
 * fsyncs without any timer: one client alone waits for exactly its own commit.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "relay.h"

struct committer {
    anon_spool *sp;
    struct relay_stats *stats;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct relay_job *head, *tail;   /* waiting, in arrival order */
    int stopping;
};

static void finish(struct relay_job *j)
{
    /* after done() the job may be freed at once by the request's thread */
    j->done(j->arg);
}

static void commit_group(struct committer *c, struct relay_job *group)
{
    queue *q = anon_spool_queue(c->sp);
    char err[ANON_ERRLEN] = "";
    struct relay_job *j, *next;
    uint64_t n = 0, largest;
    int rc;

    rc = queue_begin(q, err, sizeof err);
    for (j = group; rc == ANON_OK && j != NULL; j = j->next) {
        rc = anon_spool_store_records(c->sp, j->recs, j->n, &j->stored, &j->duplicates, err,
                                      sizeof err);
        n++;
    }
    if (rc == ANON_OK)
        rc = queue_commit(q, err, sizeof err);
    if (rc != ANON_OK)
        queue_rollback(q);
    else {
        atomic_fetch_add(&c->stats->commits, 1);
        atomic_fetch_add(&c->stats->committed_requests, n);
        largest = atomic_load(&c->stats->largest_group);
        while (n > largest &&
               !atomic_compare_exchange_weak(&c->stats->largest_group, &largest, n))
            ;
    }
    for (j = group; j != NULL; j = next) {
        next = j->next;
        j->status = rc;
        if (rc != ANON_OK) {
            j->stored = j->duplicates = 0;
            snprintf(j->err, sizeof j->err, "%s", err);
        }
        finish(j);
    }
}

static void *run(void *arg)
{
    struct committer *c = arg;

    for (;;) {
        struct relay_job *group;

        pthread_mutex_lock(&c->lock);
        while (c->head == NULL && !c->stopping)
            pthread_cond_wait(&c->wake, &c->lock);
        group = c->head;
        c->head = c->tail = NULL;
        pthread_mutex_unlock(&c->lock);
        if (group == NULL)
            break;          /* stopping, and nothing left */
        commit_group(c, group);
    }
    return NULL;
}

int committer_start(anon_spool *sp, struct relay_stats *stats, struct committer **ret,
                    char *err, size_t errlen)
{
    struct committer *c = calloc(1, sizeof *c);

    *ret = NULL;
    if (c == NULL)
        return anon_seterr(err, errlen, -1, "out of memory");
    c->sp = sp;
    c->stats = stats;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    if (pthread_create(&c->thread, NULL, run, c) != 0) {
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->wake);
        free(c);
        return anon_seterr(err, errlen, -1, "cannot start the committer thread");
    }
    *ret = c;
    return 0;
}

void committer_submit(struct committer *c, struct relay_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->tail != NULL)
        c->tail->next = job;
    else
        c->head = job;
    c->tail = job;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
}

void committer_stop(struct committer *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->wake);
    free(c);
}
