/*
 * exec_local.c - the local executor: runs each task as a child process in its own process
 * group, on one executor thread that never blocks the scheduler.
 *
 * Job lifecycle (executor thread only):
 *
 *     pending --spawn--> running --exit--> draining --EOF or 500 ms--> done (on_done)
 *        |                  | timeout/cancel: SIGTERM to the group, SIGKILL after the grace
 *        +--spawn failed / shutdown before start--> done (on_done with an error)
 *
 * Spawning: the program is looked up in the task's PATH before fork; the child joins a new
 * process group, asks for SIGKILL when the executor thread dies (PR_SET_PDEATHSIG, so a
 * killed server leaves no task behind), unblocks every signal (the server blocks SIGTERM and
 * friends in all threads), sends stdout and stderr into a pipe, marks inherited descriptors
 * close-on-exec, changes folder and execs. A close-on-exec "error pipe" reports a failed
 * chdir or exec back to the parent, which turns it into an on_done error.
 *
 * Watching: one poll() over a wake pipe, each job's output pipe (non-blocking, appended to
 * the job's log file and handed to on_output) and each job's pidfd (readable when the
 * process exits). When the main process exits, whatever is left of its process group is
 * killed, the pipe is drained until EOF (at most 500 ms more), the outputs file is read and
 * on_done runs.
 *
 * Threads: submit/cancel/shutdown may be called from any thread (they take `lock` and wake
 * the executor thread); everything else runs on the executor thread. Ownership: a job copies
 * its launch (argv, envp, paths) at submit and frees it after on_done.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "pipeline/pipeline_int.h"

#define DRAIN_MS 500
#define SPAWN_STACK 65536
#define READ_CHUNK 65536

enum job_state { JOB_PENDING, JOB_RUNNING, JOB_DRAINING, JOB_DONE };

struct job {
    uint64_t handle;
    enum job_state state;
    struct kiln_pl_launch l; /* strings below are owned copies */
    char **argv, **envp;
    char *workdir, *log_path, *outputs_path;
    int pid, pidfd, out_fd, log_fd;
    int64_t deadline_ns;  /* timeout, 0: none */
    int64_t kill_at_ns;   /* when SIGKILL follows SIGTERM, 0: not sent */
    int64_t drain_end_ns; /* after exit: stop waiting for EOF */
    int term_sent, killed, canceled, timed_out;
    struct kiln_pl_exec_result res;
    struct job *next;
};

struct local_exec {
    struct kiln_pl_executor base;
    int64_t grace_ns;
    pthread_t thread;
    int started;
    int wake[2];
    pthread_mutex_t lock; /* guards pending, cancels, ncancels, stopping, next_handle */
    struct job *pending;
    uint64_t *cancels;
    size_t ncancels, cap_cancels;
    int stopping;
    uint64_t next_handle;
    struct job *jobs;    /* executor thread only */
    char last_dir[4096]; /* executor thread only: the last log folder made */
    char *stack;         /* executor thread only: the stack spawned children start on */
};

/* ---- copies of the launch --------------------------------------------------------------- */

static char **copy_strv(const char *const *v)
{
    size_t n = 0;
    char **c;
    while (v[n] != NULL)
        n++;
    c = kiln_calloc(n + 1, sizeof(*c));
    if (c == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        c[i] = kiln_strdup(v[i]);
        if (c[i] == NULL) {
            for (size_t j = 0; j < i; j++)
                kiln_free(c[j]);
            kiln_free(c);
            return NULL;
        }
    }
    return c;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        kiln_free(v[i]);
    kiln_free(v);
}

static void job_free(struct job *j)
{
    if (j == NULL)
        return;
    free_strv(j->argv);
    free_strv(j->envp);
    kiln_free(j->workdir);
    kiln_free(j->log_path);
    kiln_free(j->outputs_path);
    kiln_free(j->res.outputs);
    kiln_free(j);
}

static char *dup_opt(const char *s, int *fail)
{
    char *c;
    if (s == NULL)
        return NULL;
    c = kiln_strdup(s);
    if (c == NULL)
        *fail = 1;
    return c;
}

static void wake(struct local_exec *x)
{
    char c = 1;
    ssize_t n = write(x->wake[1], &c, 1);
    (void)n; /* a full pipe already means "wake up" */
}

static int submit(struct kiln_pl_executor *ex, const struct kiln_pl_launch *l, uint64_t *handle,
                  struct kiln_err *err)
{
    struct local_exec *x = (struct local_exec *)ex;
    struct job *j = kiln_calloc(1, sizeof(*j));
    int fail = 0;
    if (j == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    j->l = *l;
    j->argv = copy_strv(l->argv);
    j->envp = copy_strv(l->envp);
    j->workdir = dup_opt(l->workdir, &fail);
    j->log_path = dup_opt(l->log_path, &fail);
    j->outputs_path = dup_opt(l->outputs_path, &fail);
    if (fail || j->argv == NULL || j->envp == NULL || j->argv[0] == NULL || l->log_path == NULL) {
        job_free(j);
        return kiln_err_set(err, j->argv != NULL && j->envp != NULL ? KILN_EINVAL : KILN_ENOMEM,
                            "cannot submit the task");
    }
    j->pid = j->pidfd = j->out_fd = j->log_fd = -1;
    j->res.exit_code = -1;
    pthread_mutex_lock(&x->lock);
    if (x->stopping) {
        pthread_mutex_unlock(&x->lock);
        job_free(j);
        return kiln_err_set(err, KILN_ECANCELED, "the executor is shutting down");
    }
    j->handle = ++x->next_handle;
    *handle = j->handle;
    j->next = x->pending;
    x->pending = j;
    pthread_mutex_unlock(&x->lock);
    wake(x);
    return KILN_OK;
}

static void cancel(struct kiln_pl_executor *ex, uint64_t handle)
{
    struct local_exec *x = (struct local_exec *)ex;
    pthread_mutex_lock(&x->lock);
    if (x->ncancels == x->cap_cancels) {
        size_t cap = x->cap_cancels ? x->cap_cancels * 2 : 16;
        uint64_t *c = kiln_reallocarray(x->cancels, cap, sizeof(*c));
        if (c == NULL) {
            pthread_mutex_unlock(&x->lock);
            kiln_log_error("executor: out of memory recording a cancel; the task keeps running");
            return;
        }
        x->cancels = c;
        x->cap_cancels = cap;
    }
    x->cancels[x->ncancels++] = handle;
    pthread_mutex_unlock(&x->lock);
    wake(x);
}

/* ---- spawning --------------------------------------------------------------------------- */

static const char *env_get(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; envp[i] != NULL; i++)
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            return envp[i] + n + 1;
    return NULL;
}

/* The program to exec: argv[0] itself when it has a '/', else the first hit in PATH. */
static int find_program(struct job *j, struct kiln_buf *out)
{
    const char *path = env_get(j->envp, "PATH"), *p;
    if (strchr(j->argv[0], '/') != NULL)
        return kiln_buf_puts(out, j->argv[0]);
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (p = path;; p++) {
        const char *e = strchr(p, ':');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        kiln_buf_reset(out);
        if (kiln_buf_append(out, n > 0 ? p : ".", n > 0 ? n : 1) == KILN_OK &&
            kiln_buf_printf(out, "/%s", j->argv[0]) == KILN_OK && access(out->buf, X_OK) == 0 &&
            !kiln_is_dir(out->buf))
            return KILN_OK;
        if (e == NULL)
            break;
        p = e;
    }
    return KILN_ENOENT;
}

/*
 * The child's side of a spawn. The child is made with clone(CLONE_VM | CLONE_VFORK), as
 * glibc's posix_spawn does: it shares our memory and runs on its own small stack while this
 * thread waits until it has exec'ed or died, so no page tables are copied for each task (fork
 * of a server with many threads and mappings costs far more). A failed chdir or exec is
 * reported through a close-on-exec pipe (EOF means the exec happened). Under ThreadSanitizer,
 * which cannot follow such a child, a plain fork is used instead.
 */
struct spawn_ctx {
    struct job *j;
    const char *prog;
    int out_w, err_w;
    pid_t parent;
};

struct child_err {
    int stage; /* 1 chdir, 2 exec, 3 setup */
    int err;
};

static void child_fail(struct spawn_ctx *c, int stage)
{
    struct child_err ce = { stage, errno };
    ssize_t n = write(c->err_w, &ce, sizeof(ce));
    (void)n;
    _exit(127);
}

/* Runs in the child: only async-signal-safe calls from here to execve. */
static int child_main(void *arg)
{
    struct spawn_ctx *c = arg;
    struct sigaction sa;
    sigset_t none;
    int devnull;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    if (setpgid(0, 0) != 0)
        child_fail(c, 3);
#ifdef PR_SET_PDEATHSIG
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != c->parent)
        child_fail(c, 3);
#endif
    for (int s = 1; s < 32; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(c->out_w, 1) < 0 || dup2(c->out_w, 2) < 0)
        child_fail(c, 3);
    /* Descriptors inherited from the server (sockets, the store) must not leak into tasks. */
    if (syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */) != 0) {
        for (int fd = 3; fd < 4096; fd++)
            if (fd != c->err_w)
                fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    if (c->j->workdir != NULL && chdir(c->j->workdir) != 0)
        child_fail(c, 1);
    execve(c->prog, c->j->argv, c->j->envp);
    child_fail(c, 2);
    return 127;
}

#if defined(__SANITIZE_THREAD__)
#define KILN_SPAWN_FORK 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KILN_SPAWN_FORK 1
#endif
#endif

/* Starts the child with every signal blocked until it has reset its handlers. */
static pid_t start_child(struct local_exec *x, struct spawn_ctx *c)
{
    sigset_t all, old;
    pid_t pid;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
#ifdef KILN_SPAWN_FORK
    (void)x;
    pid = fork();
    if (pid == 0)
        child_main(c);
#else
    pid = clone(child_main, x->stack + SPAWN_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, c);
#endif
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pid;
}

static void finish(struct job *j);

static void fail_job(struct job *j, int rc, const char *fmt, ...) KILN_PRINTF(3, 4);

static void fail_job(struct job *j, int rc, const char *fmt, ...)
{
    va_list ap;
    j->res.rc = rc;
    va_start(ap, fmt);
    vsnprintf(j->res.message, sizeof(j->res.message), fmt, ap);
    va_end(ap);
    finish(j);
}

/* Makes the log's folder (remembering the last one: a run's tasks share it). */
static int prepare_files(struct local_exec *x, struct job *j)
{
    char dir[sizeof(x->last_dir)];
    char *slash;
    kiln_strlcpy(dir, j->log_path, sizeof(dir));
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    if (strcmp(dir, x->last_dir) == 0)
        return 0;
    if (kiln_mkdirs(dir, 0755, NULL) != KILN_OK)
        return -1;
    kiln_strlcpy(x->last_dir, dir, sizeof(x->last_dir));
    return 0;
}

static void spawn(struct local_exec *x, struct job *j)
{
    struct kiln_buf prog;
    struct spawn_ctx c;
    struct child_err ce;
    int out[2] = { -1, -1 }, ep[2] = { -1, -1 };
    ssize_t n;
    pid_t pid;

    kiln_buf_init(&prog, 8192);
    j->res.start_ms = kiln_now_ms();
    if (find_program(j, &prog) != KILN_OK) {
        fail_job(j, KILN_ENOENT, "cannot run '%s': command not found in PATH", j->argv[0]);
        goto out;
    }
    if (prepare_files(x, j) == 0)
        j->log_fd = open(j->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (j->log_fd < 0) {
        fail_job(j, KILN_EIO, "cannot open the log file %s: %s", j->log_path, strerror(errno));
        goto out;
    }
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0) {
        fail_job(j, KILN_EIO, "cannot make a pipe: %s", strerror(errno));
        goto out;
    }
    memset(&c, 0, sizeof(c));
    c.j = j;
    c.prog = prog.buf;
    c.out_w = out[1];
    c.err_w = ep[1];
    c.parent = getpid();
    pid = start_child(x, &c);
    if (pid < 0) {
        fail_job(j, KILN_EIO, "cannot start a process: %s", strerror(errno));
        goto out;
    }
    close(out[1]);
    close(ep[1]);
    out[1] = ep[1] = -1;
    do {
        n = read(ep[0], &ce, sizeof(ce));
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(ce)) {
        int st;
        waitpid(pid, &st, 0);
        fail_job(j, KILN_EIO,
                 ce.stage == 1 ? "cannot enter folder '%s': %s" : "cannot run '%s': %s",
                 ce.stage == 1 ? j->workdir : j->argv[0], strerror(ce.err));
        goto out;
    }
    j->pid = (int)pid;
    j->res.pid = (int)pid;
    j->out_fd = out[0];
    out[0] = -1;
    fcntl(j->out_fd, F_SETFL, fcntl(j->out_fd, F_GETFL) | O_NONBLOCK);
    j->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    j->state = JOB_RUNNING;
    if (j->l.timeout_ms > 0)
        j->deadline_ns = kiln_mono_ns() + j->l.timeout_ms * 1000000;
    if (j->l.on_start != NULL)
        j->l.on_start(j->l.ctx, j->pid, j->res.start_ms);
out:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (ep[i] >= 0)
            close(ep[i]);
    }
    kiln_buf_release(&prog);
}

/* ---- watching --------------------------------------------------------------------------- */

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* a full disk loses log text, never the task */
        p += w;
        n -= (size_t)w;
    }
}

static void drain(struct job *j, char *buf)
{
    for (;;) {
        ssize_t n = read(j->out_fd, buf, READ_CHUNK);
        if (n > 0) {
            write_all(j->log_fd, buf, (size_t)n);
            if (j->l.on_output != NULL)
                j->l.on_output(j->l.ctx, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            close(j->out_fd);
            j->out_fd = -1;
        }
        return;
    }
}

static void signal_group(struct job *j, int sig)
{
    if (j->pid > 0)
        kill(-j->pid, sig);
}

static void terminate(struct local_exec *x, struct job *j)
{
    if (j->state != JOB_RUNNING || j->term_sent)
        return;
    signal_group(j, SIGTERM);
    j->term_sent = 1;
    j->kill_at_ns = kiln_mono_ns() + x->grace_ns;
}

static void reap(struct job *j)
{
    int st = 0;
    pid_t r;
    /* Kill what is left of the group while the leader is a zombie (its pid cannot be reused). */
    signal_group(j, SIGKILL);
    do {
        r = waitpid(j->pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    j->res.end_ms = kiln_now_ms();
    if (r == j->pid && WIFEXITED(st)) {
        j->res.exit_code = WEXITSTATUS(st);
    } else if (r == j->pid && WIFSIGNALED(st)) {
        j->res.signal = WTERMSIG(st);
    } else {
        j->res.signal = SIGKILL;
    }
    if (j->pidfd >= 0)
        close(j->pidfd);
    j->pidfd = -1;
    j->pid = -1;
    j->state = JOB_DRAINING;
    j->drain_end_ns = kiln_mono_ns() + (int64_t)DRAIN_MS * 1000000;
}

static void read_outputs(struct job *j)
{
    struct kiln_buf b;
    int rc;
    if (j->outputs_path == NULL)
        return;
    kiln_buf_init(&b, KILN_PL_OUTPUTS_MAX);
    rc = kiln_read_file(j->outputs_path, &b, NULL);
    if (rc == KILN_OK && b.len > 0) {
        j->res.outputs_len = b.len;
        j->res.outputs = kiln_buf_detach(&b, NULL);
    } else if (rc == KILN_ETOOBIG) {
        j->res.outputs_too_big = 1;
    }
    kiln_buf_release(&b);
}

static void finish(struct job *j)
{
    if (j->out_fd >= 0)
        close(j->out_fd);
    if (j->log_fd >= 0)
        close(j->log_fd);
    j->out_fd = j->log_fd = -1;
    if (j->res.rc == KILN_OK && j->pid < 0 && j->res.end_ms != 0) {
        if (j->canceled)
            j->res.rc = KILN_ECANCELED;
        else if (j->timed_out)
            j->res.rc = KILN_ETIMEDOUT;
        read_outputs(j);
    }
    if (j->res.end_ms == 0)
        j->res.end_ms = kiln_now_ms();
    j->state = JOB_DONE;
    j->l.on_done(j->l.ctx, &j->res);
}

/* Moves new submissions in, applies cancels; returns 1 while the loop should go on. */
static int intake(struct local_exec *x)
{
    struct job *p, *rev = NULL;
    uint64_t *cancels;
    size_t nc;
    int stopping;

    pthread_mutex_lock(&x->lock);
    p = x->pending;
    x->pending = NULL;
    cancels = x->cancels;
    nc = x->ncancels;
    x->cancels = NULL;
    x->ncancels = x->cap_cancels = 0;
    stopping = x->stopping;
    pthread_mutex_unlock(&x->lock);
    while (p != NULL) { /* restore submission order */
        struct job *n = p->next;
        p->next = rev;
        rev = p;
        p = n;
    }
    while (rev != NULL) {
        struct job *n = rev->next, **tail = &x->jobs;
        while (*tail != NULL)
            tail = &(*tail)->next;
        rev->next = NULL;
        *tail = rev;
        rev = n;
    }
    for (struct job *j = x->jobs; j != NULL; j = j->next) {
        for (size_t i = 0; i < nc; i++)
            if (cancels[i] == j->handle)
                j->canceled = 1;
        if (stopping)
            j->canceled = 1;
    }
    kiln_free(cancels);
    return !stopping || x->jobs != NULL;
}

static void step_job(struct local_exec *x, struct job *j, int64_t now)
{
    if (j->state == JOB_PENDING) {
        if (j->canceled) {
            fail_job(j, KILN_ECANCELED, "canceled before it started");
        } else {
            spawn(x, j);
        }
    }
    if (j->state == JOB_RUNNING) {
        if (j->canceled)
            terminate(x, j);
        if (j->deadline_ns != 0 && now >= j->deadline_ns && !j->term_sent) {
            j->timed_out = 1;
            terminate(x, j);
        }
        if (j->term_sent && !j->killed && now >= j->kill_at_ns) {
            signal_group(j, SIGKILL);
            j->killed = 1;
        }
    }
    if (j->state == JOB_DRAINING && (j->out_fd < 0 || now >= j->drain_end_ns))
        finish(j);
}

static int64_t next_wakeup_ms(struct job *jobs, int64_t now)
{
    int64_t best = 1000;
    for (struct job *j = jobs; j != NULL; j = j->next) {
        int64_t t[3] = { j->deadline_ns, j->term_sent && !j->killed ? j->kill_at_ns : 0,
                         j->state == JOB_DRAINING ? j->drain_end_ns : 0 };
        for (int i = 0; i < 3; i++)
            if (t[i] != 0 && (t[i] - now) / 1000000 + 1 < best)
                best = (t[i] - now) / 1000000 + 1;
        if (j->state == JOB_RUNNING && j->pidfd < 0 && best > 10)
            best = 10; /* polling for exits without a pidfd */
    }
    return best < 0 ? 0 : best;
}

/* Without a pidfd: has the process exited (left as a zombie until reap)? */
static int exited(int pid)
{
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

static void *loop(void *arg)
{
    struct local_exec *x = arg;
    char *buf = kiln_malloc(READ_CHUNK);
    struct pollfd *pfd = NULL;
    size_t cap = 0;

    while (buf != NULL && intake(x)) {
        int64_t now = kiln_mono_ns();
        size_t n = 1, njobs = 0;
        struct job **link;
        for (struct job *j = x->jobs; j != NULL; j = j->next)
            step_job(x, j, now);
        for (link = &x->jobs; *link != NULL;) { /* drop finished jobs */
            struct job *j = *link;
            if (j->state == JOB_DONE) {
                *link = j->next;
                job_free(j);
            } else {
                link = &j->next;
                njobs++;
            }
        }
        if (cap < 1 + 2 * njobs) {
            struct pollfd *np = kiln_reallocarray(pfd, 1 + 2 * njobs + 16, sizeof(*pfd));
            if (np == NULL) {
                kiln_sleep_ms(10);
                continue;
            }
            pfd = np;
            cap = 1 + 2 * njobs + 16;
        }
        pfd[0].fd = x->wake[0];
        pfd[0].events = POLLIN;
        for (struct job *j = x->jobs; j != NULL; j = j->next) {
            pfd[n].fd = j->out_fd;
            pfd[n++].events = POLLIN;
            pfd[n].fd = j->state == JOB_RUNNING ? j->pidfd : -1;
            pfd[n++].events = POLLIN;
        }
        if (poll(pfd, n, (int)next_wakeup_ms(x->jobs, now)) < 0 && errno != EINTR)
            kiln_sleep_ms(10);
        if (pfd[0].revents & POLLIN) {
            char tmp[256];
            while (read(x->wake[0], tmp, sizeof(tmp)) > 0)
                ;
        }
        n = 1;
        for (struct job *j = x->jobs; j != NULL; j = j->next, n += 2) {
            if (j->out_fd >= 0 && (pfd[n].revents & (POLLIN | POLLHUP | POLLERR)))
                drain(j, buf);
            if (j->state == JOB_RUNNING && ((j->pidfd >= 0 && (pfd[n + 1].revents & POLLIN)) ||
                                            (j->pidfd < 0 && exited(j->pid))))
                reap(j);
            if (j->state == JOB_DRAINING && j->out_fd >= 0)
                drain(j, buf);
        }
    }
    kiln_free(pfd);
    kiln_free(buf);
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static void shutdown_exec(struct kiln_pl_executor *ex)
{
    struct local_exec *x = (struct local_exec *)ex;
    pthread_mutex_lock(&x->lock);
    x->stopping = 1;
    pthread_mutex_unlock(&x->lock);
    wake(x);
    if (x->started) {
        pthread_join(x->thread, NULL);
        x->started = 0;
    }
}

static void free_exec(struct kiln_pl_executor *ex)
{
    struct local_exec *x = (struct local_exec *)ex;
    if (x == NULL)
        return;
    shutdown_exec(ex);
    kiln_free(x->cancels);
    kiln_free(x->stack);
    close(x->wake[0]);
    close(x->wake[1]);
    pthread_mutex_destroy(&x->lock);
    kiln_free(x);
}

static const struct kiln_pl_executor_ops local_ops = {
    "local", submit, cancel, shutdown_exec, free_exec,
};

int kiln_pl_local_executor_new(int64_t kill_grace_ms, struct kiln_pl_executor **out,
                               struct kiln_err *err)
{
    struct local_exec *x = kiln_calloc(1, sizeof(*x));
    *out = NULL;
    if (x == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    x->base.ops = &local_ops;
    x->grace_ns = (kill_grace_ms > 0 ? kill_grace_ms : 5000) * 1000000;
    x->stack = kiln_malloc(SPAWN_STACK + 64);
    if (x->stack == NULL) {
        kiln_free(x);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&x->lock, NULL);
    if (pipe2(x->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        pthread_mutex_destroy(&x->lock);
        kiln_free(x->stack);
        kiln_free(x);
        return kiln_err_set(err, KILN_EIO, "cannot make a pipe: %s", strerror(errno));
    }
    if (pthread_create(&x->thread, NULL, loop, x) != 0) {
        close(x->wake[0]);
        close(x->wake[1]);
        pthread_mutex_destroy(&x->lock);
        kiln_free(x->stack);
        kiln_free(x);
        return kiln_err_set(err, KILN_EIO, "cannot start the executor thread");
    }
    x->started = 1;
    *out = &x->base;
    return KILN_OK;
}
