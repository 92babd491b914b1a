/*
 * group.c - group commit for write transactions (kiln_store_write in store.h).
 *
 * Callers queue their work and wait. Whoever finds no group running becomes the leader: it
 * takes every queued work, runs them one after another in ONE write transaction, each inside
 * its own savepoint, commits, then marks them all done and wakes their callers. Work that
 * arrives meanwhile forms the next group: the leader hands the lead to the oldest waiting
 * caller. There is no extra thread: a caller either leads or waits.
 *
 * Each caller sleeps on its own condition variable and is woken once, when its work is done
 * or when it is to lead. (One shared broadcast woke every waiter after every group, most of
 * them only to sleep again, each first blocking on group_lock, still held by the leader: at
 * 8 concurrent log-batch clients about a tenth of the server's context switches.)
 *
 * Why: a commit's cost is dominated by writing every page it dirtied (SQLite appends each to
 * the WAL). Concurrent log-batch requests dirty many of the same pages (index interior pages,
 * the small latest_metrics table, recently split leaves); one commit writes them once, and the
 * fixed per-transaction costs (locks, WAL header, wal-index updates) are paid once per group.
 *
 * Failure rules: a work's error rolls back to its savepoint (nothing of it remains) and is
 * reported to its caller alone. If the transaction cannot begin, or the commit fails, every
 * work of the group gets that error: nothing of the group was committed. If a savepoint
 * cannot be rolled back (the connection is in trouble), the whole group is rolled back.
 *
 * Threads: group_lock guards the queue and the leader flag; each work's own wait_lock guards
 * its `done` and `lead`, so a leader wakes callers without holding group_lock (they would
 * wake only to wait for it). A work struct lives on its caller's stack and is only touched
 * by the leader between being dequeued and `done`.
 */
#include <stdio.h>
#include <string.h>

#include "store/store_int.h"

/* Largest group: bounds how long one caller's work can be delayed by others'. */
#define GROUP_MAX 64

struct kiln_group_work {
    kiln_store_work_fn fn;
    void *ctx;
    struct kiln_err *err; /* the caller's (may be NULL) */
    struct kiln_err own;  /* used when the caller passed NULL */
    int rc;
    /* Set by the leader under wait_lock, each waking the caller through `wake`: */
    int done; /* the work ran (rc and err are final) */
    int lead; /* the caller runs the next group */
    pthread_mutex_t wait_lock;
    pthread_cond_t wake;
    struct kiln_group_work *next;
};

static struct kiln_err *work_err(struct kiln_group_work *w)
{
    return w->err != NULL ? w->err : &w->own;
}

/* Fails every work in the list with rc and the message in `why`. */
static void fail_all(struct kiln_group_work *list, int rc, const struct kiln_err *why)
{
    for (struct kiln_group_work *w = list; w != NULL; w = w->next) {
        if (w->rc == KILN_OK || w->rc == KILN_STMT_DONE)
            w->rc = kiln_err_set(work_err(w), rc, "%s", kiln_err_msg(why, rc));
    }
}

static void run_group(struct kiln_store *store, struct kiln_group_work *list)
{
    struct kiln_tx *tx;
    struct kiln_err err = { 0 };
    int rc = kiln_store_begin(store, KILN_TX_WRITE, &tx, &err);

    if (rc != KILN_OK) {
        fail_all(list, rc, &err);
        return;
    }
    for (struct kiln_group_work *w = list; w != NULL; w = w->next) {
        if (list->next == NULL) {
            /* Alone: no savepoint needed, the transaction is the unit. */
            w->rc = w->fn(tx, w->ctx, work_err(w));
            break;
        }
        rc = kiln_tx_exec(tx, "SAVEPOINT kiln_work", &err);
        if (rc == KILN_OK) {
            w->rc = w->fn(tx, w->ctx, work_err(w));
            if (w->rc != KILN_OK)
                rc = kiln_tx_exec(tx, "ROLLBACK TO kiln_work", &err);
            if (rc == KILN_OK)
                rc = kiln_tx_exec(tx, "RELEASE kiln_work", &err);
        }
        if (rc != KILN_OK) {
            kiln_store_rollback(tx);
            fail_all(list, rc, &err);
            return;
        }
    }
    if (list->next == NULL && list->rc != KILN_OK) {
        kiln_store_rollback(tx);
        return;
    }
    rc = kiln_store_commit(tx, &err);
    if (rc != KILN_OK)
        fail_all(list, rc, &err);
}

/* Takes up to GROUP_MAX queued works, from the head (group_lock held, queue not empty). */
static struct kiln_group_work *take_group(struct kiln_store *store)
{
    struct kiln_group_work *list = store->group_head, *last = list;
    int n = 1;
    while (last->next != NULL && n < GROUP_MAX) {
        last = last->next;
        n++;
    }
    store->group_head = last->next;
    if (store->group_head == NULL)
        store->group_tail = NULL;
    last->next = NULL;
    return list;
}

/* Sets a waiting caller's flag and wakes it. The caller may return as soon as we let go of
 * its mutex, so nothing of `w` is touched after the unlock. */
static void wake(struct kiln_group_work *w, int *flag)
{
    pthread_mutex_lock(&w->wait_lock);
    *flag = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->wait_lock);
}

/* Runs the next group as its leader (`self` heads the queue, so its work is in it), then
 * hands the lead on and wakes the callers whose work ran. */
static void lead_group(struct kiln_store *store, struct kiln_group_work *self)
{
    struct kiln_group_work *list, *next_leader;

    pthread_mutex_lock(&store->group_lock);
    list = take_group(store);
    pthread_mutex_unlock(&store->group_lock);
    run_group(store, list);
    /* The oldest waiter leads next; woken first, so the next group starts at once. */
    pthread_mutex_lock(&store->group_lock);
    next_leader = store->group_head;
    if (next_leader == NULL)
        store->group_leader = 0;
    pthread_mutex_unlock(&store->group_lock);
    if (next_leader != NULL)
        wake(next_leader, &next_leader->lead);
    for (struct kiln_group_work *g = list, *next; g != NULL; g = next) {
        next = g->next; /* read before g's caller may leave */
        if (g != self)
            wake(g, &g->done);
    }
}

int kiln_store_write(struct kiln_store *store, kiln_store_work_fn fn, void *ctx,
                     struct kiln_err *err)
{
    struct kiln_group_work w;

    memset(&w, 0, sizeof(w));
    w.fn = fn;
    w.ctx = ctx;
    w.err = err;
    pthread_mutex_init(&w.wait_lock, NULL);
    pthread_cond_init(&w.wake, NULL);
    pthread_mutex_lock(&store->group_lock);
    if (store->group_tail != NULL)
        store->group_tail->next = &w;
    else
        store->group_head = &w;
    store->group_tail = &w;
    if (!store->group_leader) {
        store->group_leader = 1;
        w.lead = 1;
    }
    pthread_mutex_unlock(&store->group_lock);
    pthread_mutex_lock(&w.wait_lock);
    while (!w.done && !w.lead)
        pthread_cond_wait(&w.wake, &w.wait_lock);
    pthread_mutex_unlock(&w.wait_lock);
    if (!w.done)
        lead_group(store, &w);
    pthread_cond_destroy(&w.wake);
    pthread_mutex_destroy(&w.wait_lock);
    return w.rc;
}
