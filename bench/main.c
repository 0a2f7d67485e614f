/*
 * main.c - ipcx-bench: every mechanism, every metric, one run.
 *
 * Runs are grouped by metric, message size and pinning, and within a group
 * every mechanism runs back to back, so the ratios compare numbers taken
 * minutes, not hours, apart on a noisy machine.  Each result is one JSON
 * object per line (on --out, default standard output); progress goes to
 * standard error.  Exit status: 0 if every run that could run succeeded,
 * 1 if any failed (a lost or damaged message, a stall, a crash), 2 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ipcx/ipcx.h>

#include "bench.h"

#define MB (1u << 20)

static const struct mech *const mechs[] = {
    &mech_busy,       &mech_ipcx, &mech_ipcx1024, &mech_ipcx_nospin,
    &mech_chan,       &mech_loan, &mech_pipe,     &mech_ustream,
    &mech_useqpacket, &mech_tcp,  &mech_posixmq,  &mech_sysvmq,
    &mech_zmq,        &mech_nng,  &mech_iox,      &mech_iox_zc,
};
#define NMECHS   (sizeof mechs / sizeof mechs[0])
#define MAX_REPS 5

static const struct bench_plan full_plan = {
    .pp_iters = 100000,
    .pp_warmup = 2000,
    .pp_max_ns = 3000000000LL,
    .stream_ns = 500000000LL,
    .idle_ns = 1000000000LL,
    .stall_ns = 20000000000LL,
    .reps = 3,
};

static const struct bench_plan quick_plan = {
    .pp_iters = 5000,
    .pp_warmup = 200,
    .pp_max_ns = 500000000LL,
    .stream_ns = 150000000LL,
    .idle_ns = 250000000LL,
    .stall_ns = 10000000000LL,
    .reps = 1,
};

static const char usage[] =
    "usage: ipcx-bench [--quick] [--out FILE] [--only MECH,...]\n"
    "                  [--tests pingpong,stream,fanin,idle,memcpy] [--list]\n"
    "\n"
    "Benchmarks ipcx mailboxes against the other IPC mechanisms of Linux,\n"
    "each as separate processes; writes one JSON object per result.\n"
    "Normally run through bench/run.sh, which also makes the report.\n";

struct opts {
    const struct bench_plan *plan;
    const char *only;  /* comma-separated mechanism names, or NULL */
    const char *tests; /* comma-separated tests, or NULL for all */
    FILE *out;
};

struct tally {
    int done, total, failed;
    unsigned serial;
};

static int in_list(const char *list, const char *word)
{
    if (list == NULL) {
        return 1;
    }
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n) {
        int starts = p == list || p[-1] == ',';
        int ends = p[n] == '\0' || p[n] == ',';
        if (starts && ends) {
            return 1;
        }
    }
    return 0;
}

static const char *kind_name(enum bench_kind k)
{
    switch (k) {
    case BK_PINGPONG:
        return "pingpong";
    case BK_STREAM:
        return "stream";
    case BK_FANIN:
        return "fanin";
    default:
        return "idle";
    }
}

static const char *pin_name(enum bench_pin p)
{
    return p == PIN_SPLIT ? "split" : p == PIN_SAME ? "same" : "none";
}

static const char *status_name(enum bench_status s)
{
    return s == BS_OK ? "ok" : s == BS_NA ? "n/a" : "error";
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\') {
            fputc('\\', f);
        }
        fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
    }
    fputc('"', f);
}

/* One result as a JSON line; RATES: the metric of each of NRATES runs
 * (median round trip or rate), if there were several. */
static void emit(FILE *f, const char *mech, const char *label, const char *test,
                 const char *pin, size_t size, int senders,
                 const struct bench_result *r, const double *rates, int nrates)
{
    fprintf(f, "{\"mech\":");
    json_string(f, mech);
    fprintf(f, ",\"label\":");
    json_string(f, label);
    fprintf(f,
            ",\"test\":\"%s\",\"pin\":\"%s\",\"size\":%zu,"
            "\"senders\":%d,\"status\":\"%s\",\"note\":",
            test, pin, size, senders, status_name(r->status));
    json_string(f, r->note);
    if (r->n > 0) {
        fprintf(f,
                ",\"n\":%llu,\"median_ns\":%lld,\"p99_ns\":%lld,"
                "\"p999_ns\":%lld,\"min_ns\":%lld,\"mean_ns\":%.1f",
                (unsigned long long)r->n, (long long)r->median,
                (long long)r->p99, (long long)r->p999, (long long)r->min,
                r->mean);
    }
    if (r->msgs > 0 && r->secs > 0) {
        double rate = (double)r->msgs / r->secs;
        fprintf(f,
                ",\"msgs\":%llu,\"secs\":%.4f,\"msgs_per_s\":%.1f,"
                "\"bytes_per_s\":%.1f",
                (unsigned long long)r->msgs, r->secs, rate,
                rate * (double)size);
    }
    if (strcmp(test, "idle") == 0 && r->status == BS_OK) {
        fprintf(f, ",\"cpu_ns\":%lld,\"secs\":%.4f,\"cpu_pct\":%.3f",
                (long long)r->cpu_ns, r->secs,
                100.0 * (double)r->cpu_ns / (r->secs * 1e9));
    }
    if (r->status == BS_OK && r->child_cpu_ns > 0) {
        fprintf(f, ",\"child_cpu_ns\":%lld,\"ctx_switches\":%llu",
                (long long)r->child_cpu_ns, (unsigned long long)r->child_csw);
    }
    if (nrates > 0) {
        fprintf(f, ",\"%s\":[", r->n > 0 ? "run_medians_ns" : "run_rates");
        for (int i = 0; i < nrates; i++) {
            fprintf(f, "%s%.1f", i == 0 ? "" : ",", rates[i]);
        }
        fprintf(f, "]");
    }
    fprintf(f, "}\n");
    fflush(f);
}

static void progress(struct tally *t, const char *what,
                     const struct bench_result *r, size_t size)
{
    char val[320] = "";
    if (r->status != BS_OK) {
        snprintf(val, sizeof val, "%s %s", status_name(r->status), r->note);
    } else if (r->n > 0) {
        snprintf(val, sizeof val, "median %.2f us  p99 %.2f us",
                 (double)r->median / 1e3, (double)r->p99 / 1e3);
    } else if (r->msgs > 0 && r->secs > 0) {
        double rate = (double)r->msgs / r->secs;
        snprintf(val, sizeof val, "%.3f M msg/s  %.1f MB/s", rate / 1e6,
                 rate * (double)size / 1e6);
    } else {
        snprintf(val, sizeof val, "cpu %.3f%%",
                 100.0 * (double)r->cpu_ns / (r->secs * 1e9 + 1));
    }
    fprintf(stderr, "[%3d/%d] %-44s %s\n", t->done, t->total, what, val);
}

static void one(const struct opts *o, struct tally *t, const struct mech *m,
                const struct bench_cfg *base, struct bench_result *r)
{
    struct bench_cfg cfg = *base;
    cfg.serial = ++t->serial;
    cfg.owner = getpid();
    bench_run(m, &cfg, o->plan, r);
    t->done++;
    if (r->status == BS_ERROR) {
        t->failed++;
    }
    char what[96];
    snprintf(what, sizeof what, "%s %zu B %s x%d %s", kind_name(cfg.kind),
             cfg.size, pin_name(cfg.pin), cfg.senders, m->name);
    progress(t, what, r, cfg.size);
}

/* What repetitions are ranked by: the median round trip, or the rate. */
static double metric_of(const struct bench_result *r)
{
    if (r->n > 0) {
        return (double)r->median;
    }
    return r->secs > 0 ? (double)r->msgs / r->secs : 0;
}

/* Of REPS results, the one to report: the first failure if any run
 * failed, else the median run.  Every run's metric goes to VALUES. */
static const struct bench_result *pick(const struct bench_result *r, int reps,
                                       double *values)
{
    int order[MAX_REPS] = {0};
    for (int i = 0; i < reps; i++) {
        if (r[i].status != BS_OK) {
            return &r[i];
        }
        values[i] = metric_of(&r[i]);
        order[i] = i;
    }
    for (int i = 1; i < reps; i++) { /* insertion sort */
        for (int j = i; j > 0 && values[order[j]] < values[order[j - 1]]; j--) {
            int k = order[j];
            order[j] = order[j - 1];
            order[j - 1] = k;
        }
    }
    return &r[order[reps / 2]];
}

static int selected(const struct opts *o, const struct mech *m,
                    enum bench_kind kind)
{
    return in_list(o->only, m->name) && (m->kinds & kind);
}

/*
 * Every mechanism (that the options select) with the same settings.
 * All but the idle test run the whole group REPS times over, so the
 * repetitions of one mechanism are spread across the group's minutes, and
 * report the median run.
 */
static void group(const struct opts *o, struct tally *t, enum bench_kind kind,
                  enum bench_pin pin, size_t size, int senders, int count)
{
    static struct bench_result res[NMECHS][MAX_REPS];
    struct bench_cfg cfg = {
        .kind = kind, .pin = pin, .size = size, .senders = senders};
    int reps = kind == BK_IDLE ? 1 : o->plan->reps;
    for (int rep = 0; rep < reps; rep++) {
        for (size_t i = 0; i < NMECHS; i++) {
            if (!selected(o, mechs[i], kind)) {
                continue;
            }
            if (count) {
                t->total++;
            } else {
                one(o, t, mechs[i], &cfg, &res[i][rep]);
            }
        }
    }
    for (size_t i = 0; i < NMECHS && !count; i++) {
        if (selected(o, mechs[i], kind)) {
            double values[MAX_REPS];
            const struct bench_result *r = pick(res[i], reps, values);
            int n = r->status == BS_OK && reps > 1 ? reps : 0;
            emit(o->out, mechs[i]->name, mechs[i]->label, kind_name(kind),
                 pin_name(pin), size, senders, r, values, n);
        }
    }
}

static void memcpy_ref(const struct opts *o, struct tally *t, int count)
{
    for (int rotate = 0; rotate < 2; rotate++) {
        if (count) {
            t->total++;
            continue;
        }
        struct bench_result r;
        bench_memcpy(MB, rotate, o->plan->stream_ns, &r);
        t->done++;
        t->failed += r.status == BS_ERROR;
        const char *name = rotate ? "memcpy-64slots" : "memcpy";
        const char *label = rotate ? "memcpy into 64 rotating 1 MiB buffers"
                                   : "memcpy, same 1 MiB buffers";
        progress(t, name, &r, MB);
        emit(o->out, name, label, "memcpy", "same", MB, 1, &r, NULL, 0);
    }
}

/* The whole plan; with COUNT only counts the runs. */
static void plan_all(const struct opts *o, struct tally *t, int count)
{
    static const size_t sizes[] = {64, 4096, MB};
    static const enum bench_pin pins[] = {PIN_SPLIT, PIN_SAME};
    for (int p = 0; p < 2 && in_list(o->tests, "pingpong"); p++) {
        group(o, t, BK_PINGPONG, pins[p], 64, 1, count);
    }
    for (int s = 0; s < 3 && in_list(o->tests, "stream"); s++) {
        /* The memcpy reference right before the 1 MiB streams it is
         * compared with. */
        if (sizes[s] == MB && in_list(o->tests, "memcpy")) {
            memcpy_ref(o, t, count);
        }
        for (int p = 0; p < 2; p++) {
            group(o, t, BK_STREAM, pins[p], sizes[s], 1, count);
        }
    }
    for (int n = 1; n <= 8 && in_list(o->tests, "fanin"); n += 7) {
        group(o, t, BK_FANIN, PIN_NONE, 64, n, count);
    }
    if (in_list(o->tests, "idle")) {
        group(o, t, BK_IDLE, PIN_NONE, 64, 1, count);
    }
}

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option lopts[] = {
        {"quick", no_argument, NULL, 'q'},
        {"out", required_argument, NULL, 'o'},
        {"only", required_argument, NULL, 'm'},
        {"tests", required_argument, NULL, 't'},
        {"list", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "qo:m:t:lh", lopts, NULL)) != -1) {
        if (c == 'q') {
            o->plan = &quick_plan;
        } else if (c == 'o') {
            o->out = fopen(optarg, "we");
            if (o->out == NULL) {
                perror(optarg);
                return -1;
            }
        } else if (c == 'm') {
            o->only = optarg;
        } else if (c == 't') {
            o->tests = optarg;
        } else if (c == 'l') {
            for (size_t i = 0; i < NMECHS; i++) {
                printf("%-16s %s\n", mechs[i]->name, mechs[i]->label);
            }
            exit(0);
        } else {
            fputs(usage, c == 'h' ? stdout : stderr);
            exit(c == 'h' ? 0 : 2);
        }
    }
    return optind == argc ? 0 : -1;
}

/* A private namespace for the run's mailboxes, removed at the end. */
static int private_namespace(char *dir, size_t cap)
{
    snprintf(dir, cap, "/dev/shm/ipcxb-ns-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    setenv("IPCX_DIR", dir, 1);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {.plan = &full_plan, .out = stdout};
    if (parse(argc, argv, &o) < 0) {
        fputs(usage, stderr);
        return 2;
    }
    char dir[64];
    if (private_namespace(dir, sizeof dir) < 0) {
        return 1;
    }
    struct tally t = {0};
    plan_all(&o, &t, 1);
    plan_all(&o, &t, 0);
    rmdir(dir);
    fprintf(stderr, "%d runs, %d failed\n", t.done, t.failed);
    if (o.out != stdout) {
        fclose(o.out);
    }
    return t.failed > 0 ? 1 : 0;
}
