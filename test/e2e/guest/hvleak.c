/*
 * Kernel-level leak check for the e2e suite: every allocation that module
 * code got from the kernel inside a window must have been freed by its end.
 *
 *   hvleak start --imports FILE   open a window; the first time, arm the
 *                                 probes (FILE: hvcore.ko's undefined symbols,
 *                                 one a line, from `nm -u`)
 *   hvleak check [--syms FILE] [--sections FILE]
 *                                 close the window, replay it, list what is
 *                                 still allocated (the probes stay armed)
 *   hvleak stop                   remove the probes
 *
 * How: a kretprobe on each allocation API that the module imports records
 * the pointer it returns when the return address lies in module code (the
 * kernel's module area from /proc/kcore, minus the modules already loaded
 * when the window opens); a kprobe on each free API records every pointer
 * freed, by anyone. The window is replayed in time order (global trace
 * clock): an allocation is outstanding until a free of the same pointer
 * follows it. Nothing is sampled or estimated, so there is no threshold:
 * page cache, slab growth and every other allocation the kernel makes for
 * itself never pass the return-address filter.
 *
 * Blind spots are loud: a module import that looks like an allocation or
 * free API but is not in the tables below stops "start"; lost trace events
 * stop "check". A kprobe hit is only ever missed when it nests in another
 * probe's handler, i.e. in interrupt context; module code allocates and frees
 * in process context, so those misses (reported) are other code's frees.
 *
 * Output lines start with "HV-LEAK: ". Exit status: 0 = nothing outstanding,
 * 1 = leaks (listed), 2 = the check could not run (reason printed).
 * Built static: the guest has only busybox.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#define GROUP "hvleak"
#define STATE_FILE "/tmp/hvleak.state" /* armed probes: "name id kind ns" */
#define BUFFER_KB 4096                  /* per CPU; a full e2e window uses ~0.5 MB */
/* Simultaneous (sleeping) calls one kretprobe can track; a shortfall shows
 * as nmissed in kprobe_profile. */
#define MAXACTIVE 256

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum ns { NS_VA, NS_PAGE }; /* what a pointer names: a kernel address or a struct page */
static const char *const ns_name[] = { "va", "page" };

struct api {
    const char *name;
    enum ns ns;
    const char *arg; /* free: the register holding the pointer (x86-64 SysV) */
};

/* Allocation APIs: the return value is the allocation. */
static const struct api alloc_apis[] = {
    { "__kmalloc", NS_VA, NULL },           { "__kmalloc_node", NS_VA, NULL },
    { "kmalloc_trace", NS_VA, NULL },       { "kmalloc_node_trace", NS_VA, NULL },
    { "kmalloc_large", NS_VA, NULL },       { "kmalloc_large_node", NS_VA, NULL },
    { "kmem_cache_alloc", NS_VA, NULL },    { "kmem_cache_alloc_node", NS_VA, NULL },
    { "kmem_cache_alloc_lru", NS_VA, NULL }, { "kmemdup", NS_VA, NULL },
    { "kmemdup_nul", NS_VA, NULL },         { "kstrdup", NS_VA, NULL },
    { "kstrndup", NS_VA, NULL },            { "kasprintf", NS_VA, NULL },
    { "kvasprintf", NS_VA, NULL },          { "krealloc", NS_VA, NULL },
    { "kvmalloc_node", NS_VA, NULL },       { "kvrealloc", NS_VA, NULL },
    { "vmalloc", NS_VA, NULL },             { "vzalloc", NS_VA, NULL },
    { "vmalloc_node", NS_VA, NULL },        { "vzalloc_node", NS_VA, NULL },
    { "__vmalloc", NS_VA, NULL },           { "vmalloc_user", NS_VA, NULL },
    { "vmalloc_32", NS_VA, NULL },          { "vmap", NS_VA, NULL },
    { "get_zeroed_page", NS_VA, NULL },     { "__get_free_pages", NS_VA, NULL },
    { "alloc_pages_exact", NS_VA, NULL },   { "alloc_pages_exact_nid", NS_VA, NULL },
    { "alloc_pages", NS_PAGE, NULL },       { "__alloc_pages", NS_PAGE, NULL },
    { "__folio_alloc", NS_PAGE, NULL },     { "folio_alloc", NS_PAGE, NULL },
    /* Kernels with allocation profiling (6.10+) export these instead. */
    { "__kmalloc_noprof", NS_VA, NULL },    { "__kmalloc_node_noprof", NS_VA, NULL },
    { "kmalloc_trace_noprof", NS_VA, NULL }, { "kvmalloc_node_noprof", NS_VA, NULL },
    { "vmalloc_noprof", NS_VA, NULL },      { "vzalloc_noprof", NS_VA, NULL },
    { "get_zeroed_page_noprof", NS_VA, NULL }, { "__get_free_pages_noprof", NS_VA, NULL },
    { "alloc_pages_exact_noprof", NS_VA, NULL }, { "alloc_pages_noprof", NS_PAGE, NULL },
};

/* Free APIs. */
static const struct api free_apis[] = {
    { "kfree", NS_VA, "%di" },              { "kvfree", NS_VA, "%di" },
    { "kfree_sensitive", NS_VA, "%di" },    { "kvfree_sensitive", NS_VA, "%di" },
    { "kfree_const", NS_VA, "%di" },        { "kmem_cache_free", NS_VA, "%si" },
    { "vfree", NS_VA, "%di" },              { "vunmap", NS_VA, "%di" },
    { "free_pages", NS_VA, "%di" },         { "free_pages_exact", NS_VA, "%di" },
    { "__free_pages", NS_PAGE, "%di" },     { "__folio_put", NS_PAGE, "%di" },
};

/* Watched whether imported or not: the imported wrappers end in them, and
 * memory a module hands over to the kernel comes back through them. */
static const char *const core_frees[] = { "kfree", "vfree", "vunmap", "free_pages", "__free_pages" };

/* Imports whose names look like allocation or free APIs but are not. */
static const char *const benign[] = {
    "vmalloc_to_page", "vmalloc_to_pfn", "is_vmalloc_addr", "is_vmalloc_or_module_addr",
    "free_irq", "free_percpu_irq",
};

static const char *const suspicious[] = { "alloc", "dup", "vmap", "free", "get_free_page", "zeroed_page",
                                          "asprintf", "kmem_cache", "put_page", "folio" };

static char tracefs[64];

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void msg(const char *fmt, ...)
{
    va_list ap;

    fputs("HV-LEAK: ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static int cant(const char *fmt, ...)
{
    va_list ap;

    fputs("HV-LEAK: ERROR: ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    return 2;
}

static void path_of(char *out, size_t n, const char *rel)
{
    snprintf(out, n, "%s/%s", tracefs, rel);
}

/* Write `s` to a tracefs file; appending to kprobe_events keeps other
 * users' probes. Returns 0 or -errno. */
static int tfs_write(const char *rel, const char *s, int append)
{
    char p[512];
    size_t len = strlen(s);
    int fd, e;

    path_of(p, sizeof(p), rel);
    fd = open(p, O_WRONLY | (append ? O_APPEND : O_TRUNC));
    if (fd < 0)
        return -errno;
    if (write(fd, s, len) != (ssize_t)len) {
        e = errno ? errno : EIO;
        close(fd);
        return -e;
    }
    return close(fd) == 0 ? 0 : -errno;
}

/* First line of a tracefs file into buf; 0 or -errno. */
static int tfs_read(const char *rel, char *buf, size_t n)
{
    char p[512];
    FILE *f;

    path_of(p, sizeof(p), rel);
    f = fopen(p, "r");
    if (!f)
        return -errno;
    if (!fgets(buf, (int)n, f)) {
        fclose(f);
        return -EIO;
    }
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static int find_tracefs(void)
{
    static const char *const dirs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
    char p[128];

    for (int attempt = 0; attempt < 2; attempt++) {
        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
            snprintf(p, sizeof(p), "%s/kprobe_events", dirs[i]);
            if (access(p, W_OK) == 0) {
                snprintf(tracefs, sizeof(tracefs), "%s", dirs[i]);
                return 0;
            }
        }
        if (attempt == 0 && mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) != 0 && errno != EBUSY)
            break;
    }
    return -1;
}

static int in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, list[i]))
            return 1;
    return 0;
}

static const struct api *find_api(const struct api *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name))
            return &t[i];
    return NULL;
}

/* The module area from /proc/kcore's program headers. At or above
 * __START_KERNEL_map (the top 2 GiB, fixed by the x86-64 kernel code model)
 * the kernel describes, in address order: its image, the module area, and
 * maybe the one vsyscall page. */
static int module_area(uint64_t *lo, uint64_t *hi, uint64_t *text_lo, uint64_t *text_hi)
{
    uint64_t seg[8][2];
    int n = 0;
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
    int fd = open("/proc/kcore", O_RDONLY);

    if (fd < 0)
        return -errno;
    if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(ph)) {
        close(fd);
        return -EINVAL;
    }
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) != (ssize_t)sizeof(ph)) {
            close(fd);
            return -EIO;
        }
        if (ph.p_type != PT_LOAD || ph.p_vaddr < 0xffffffff80000000ull || n == 8)
            continue;
        int k = n++;

        while (k > 0 && seg[k - 1][0] > ph.p_vaddr) {
            seg[k][0] = seg[k - 1][0];
            seg[k][1] = seg[k - 1][1];
            k--;
        }
        seg[k][0] = ph.p_vaddr;
        seg[k][1] = ph.p_vaddr + ph.p_memsz;
    }
    close(fd);
    if (n < 2)
        return -ENOENT;
    *text_lo = seg[0][0];
    *text_hi = seg[0][1];
    *lo = seg[1][0];
    *hi = seg[1][1];
    return 0;
}

struct range {
    uint64_t lo, hi;
    char name[64];
};

/* Core ranges of the modules loaded now (their init code is gone). */
static int loaded_modules(struct range *r, int max)
{
    FILE *f = fopen("/proc/modules", "r");
    char line[512], name[64], state[32], deps[256];
    unsigned long size, refs;
    uint64_t addr;
    int n = 0;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f) && n < max) {
        if (sscanf(line, "%63s %lu %lu %255s %31s 0x%" SCNx64, name, &size, &refs, deps, state, &addr) == 6 &&
            addr) {
            r[n].lo = addr;
            r[n].hi = addr + size;
            snprintf(r[n].name, sizeof(r[n].name), "%s", name);
            n++;
        }
    }
    fclose(f);
    return n;
}

/* ---- armed probes -------------------------------------------------------------- */

struct probe {
    char name[64];
    int id;        /* trace event id */
    int is_alloc;
    enum ns ns;
    unsigned long missed0; /* nmissed when the window opened */
    /* payload offsets, from the event's format file */
    int off_value, off_caller, off_pid;
};

static struct probe probes[ARRAY_SIZE(alloc_apis) + ARRAY_SIZE(free_apis)];
static size_t nprobes;

static int load_state(void)
{
    FILE *f = fopen(STATE_FILE, "r");
    char line[256];

    nprobes = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f) && nprobes < ARRAY_SIZE(probes)) {
        struct probe *p = &probes[nprobes];
        int ns;

        if (sscanf(line, "%63s %d %d %d %lu", p->name, &p->id, &p->is_alloc, &ns, &p->missed0) == 5) {
            p->ns = ns ? NS_PAGE : NS_VA;
            nprobes++;
        }
    }
    fclose(f);
    return 0;
}

static int save_state(void)
{
    FILE *f = fopen(STATE_FILE, "w");

    if (!f)
        return -1;
    for (size_t i = 0; i < nprobes; i++)
        fprintf(f, "%s %d %d %d %lu\n", probes[i].name, probes[i].id, probes[i].is_alloc, (int)probes[i].ns,
                probes[i].missed0);
    return fclose(f);
}

/* nmissed of each armed probe, from kprobe_profile ("name hits nmissed"). */
static void read_missed(unsigned long *out)
{
    char p[512], line[256], name[128];
    unsigned long hits, nmissed;
    FILE *f;

    for (size_t i = 0; i < nprobes; i++)
        out[i] = 0;
    path_of(p, sizeof(p), "kprobe_profile");
    f = fopen(p, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%127s %lu %lu", name, &hits, &nmissed) != 3)
            continue;
        for (size_t i = 0; i < nprobes; i++)
            if (!strcmp(name, probes[i].name))
                out[i] = nmissed;
    }
    fclose(f);
}

static int event_filter(char *filter, size_t size, struct range *mods, int nmods, uint64_t lo, uint64_t hi)
{
    size_t len = (size_t)snprintf(filter, size, "__probe_ret_ip >= 0x%" PRIx64 " && __probe_ret_ip < 0x%" PRIx64,
                                  lo, hi);

    for (int i = 0; i < nmods && len < size; i++)
        if (mods[i].lo >= lo && mods[i].lo < hi)
            len += (size_t)snprintf(filter + len, size - len,
                                    " && (__probe_ret_ip < 0x%" PRIx64 " || __probe_ret_ip >= 0x%" PRIx64 ")",
                                    mods[i].lo, mods[i].hi);
    return len < size ? 0 : -1;
}

static int arm(const char *imports)
{
    const struct api *allocs[ARRAY_SIZE(alloc_apis)], *frees[ARRAY_SIZE(free_apis)];
    size_t na = 0, nf = 0, nunknown = 0;
    char sym[128], line[512], rel[256], buf[64];
    FILE *f = fopen(imports, "r");
    double t0 = now();
    int err;

    if (!f)
        return cant("cannot read the module's import list %s: %s", imports, strerror(errno));
    while (fgets(sym, sizeof(sym), f)) {
        const struct api *a;

        sym[strcspn(sym, " \t\r\n")] = '\0';
        if (!sym[0])
            continue;
        if ((a = find_api(alloc_apis, ARRAY_SIZE(alloc_apis), sym))) {
            allocs[na++] = a;
        } else if ((a = find_api(free_apis, ARRAY_SIZE(free_apis), sym))) {
            if (!in_list(sym, core_frees, ARRAY_SIZE(core_frees)))
                frees[nf++] = a;
        } else if (!in_list(sym, benign, ARRAY_SIZE(benign))) {
            for (size_t i = 0; i < ARRAY_SIZE(suspicious); i++) {
                if (strstr(sym, suspicious[i])) {
                    cant("the module imports %s, which looks like an allocation or free API this check does "
                         "not watch: add it to test/e2e/guest/hvleak.c",
                         sym);
                    nunknown++;
                    break;
                }
            }
        }
    }
    fclose(f);
    if (nunknown)
        return 2;
    if (na == 0)
        return cant("the module imports no allocation API this check knows (import list %s)", imports);
    for (size_t i = 0; i < ARRAY_SIZE(core_frees); i++)
        frees[nf++] = find_api(free_apis, ARRAY_SIZE(free_apis), core_frees[i]);

    snprintf(buf, sizeof(buf), "%d", BUFFER_KB);
    if ((err = tfs_write("tracing_on", "0", 0)) || (err = tfs_write("buffer_size_kb", buf, 0)) ||
        (err = tfs_write("trace_clock", "global", 0)) || (err = tfs_write("options/overwrite", "0", 0)))
        return cant("cannot configure the trace buffer in %s: %s", tracefs, strerror(-err));

    nprobes = 0;
    for (size_t i = 0; i < na + nf; i++) {
        const struct api *a = i < na ? allocs[i] : frees[i - na];
        struct probe *p = &probes[nprobes];

        p->is_alloc = i < na;
        p->ns = a->ns;
        snprintf(p->name, sizeof(p->name), "%c_%s_%s", p->is_alloc ? 'a' : 'f', ns_name[a->ns], a->name);
        /* A stale run's probe of the same name would make "File exists". */
        snprintf(line, sizeof(line), "-:" GROUP "/%s\n", p->name);
        tfs_write("kprobe_events", line, 1);
        if (p->is_alloc)
            snprintf(line, sizeof(line), "r%d:" GROUP "/%s %s ret=$retval:x64\n", MAXACTIVE, p->name, a->name);
        else
            snprintf(line, sizeof(line), "p:" GROUP "/%s %s ptr=%s:x64\n", p->name, a->name, a->arg);
        if ((err = tfs_write("kprobe_events", line, 1)))
            return cant("cannot add a probe on %s: %s", a->name, strerror(-err));
        snprintf(rel, sizeof(rel), "events/" GROUP "/%s/id", p->name);
        if ((err = tfs_read(rel, buf, sizeof(buf))))
            return cant("cannot read %s: %s", rel, strerror(-err));
        p->id = atoi(buf);
        nprobes++;
        if (!p->is_alloc) {
            snprintf(rel, sizeof(rel), "events/" GROUP "/%s/filter", p->name);
            if ((err = tfs_write(rel, "ptr != 0", 0)))
                return cant("cannot set the filter of %s: %s", p->name, strerror(-err));
        }
    }
    if (save_state())
        return cant("cannot write %s: %s", STATE_FILE, strerror(errno));
    {
        char list[1024] = "";
        size_t l = 0;

        for (size_t i = 0; i < na && l < sizeof(list); i++)
            l += (size_t)snprintf(list + l, sizeof(list) - l, "%s%s", i ? " " : "", allocs[i]->name);
        msg("armed in %s: kretprobes on the %zu allocation APIs the module imports (%s), kprobes on %zu free APIs "
            "(%.2f s)",
            tracefs, na, list, nf, now() - t0);
    }
    return 0;
}

static int cmd_start(const char *imports)
{
    struct range mods[64];
    uint64_t lo = 0, hi = 0, tlo = 0, thi = 0;
    char filter[2048], rel[256], excl[512] = "";
    unsigned long missed[ARRAY_SIZE(probes)];
    int nmods, err;
    size_t e = 0;

    if (find_tracefs())
        return cant("no tracefs with kprobe_events (a kernel without CONFIG_KPROBE_EVENTS?): no leak check");
    if ((err = module_area(&lo, &hi, &tlo, &thi)))
        return cant("cannot find the module area in /proc/kcore's program headers: %s", strerror(-err));
    nmods = loaded_modules(mods, (int)ARRAY_SIZE(mods));
    if (nmods < 0)
        return cant("cannot read /proc/modules: %s", strerror(errno));
    for (int i = 0; i < nmods; i++)
        if (mods[i].lo < lo || mods[i].hi > hi)
            return cant("module %s at [0x%" PRIx64 ", 0x%" PRIx64 ") is outside what /proc/kcore says is the module "
                        "area [0x%" PRIx64 ", 0x%" PRIx64 ")",
                        mods[i].name, mods[i].lo, mods[i].hi, lo, hi);
    if (load_state() && (err = arm(imports)))
        return err;

    /* The filter is set again for every window: the set of modules that
     * were there before it may have changed. */
    if (event_filter(filter, sizeof(filter), mods, nmods, lo, hi))
        return cant("too many loaded modules for the filter");
    for (size_t i = 0; i < nprobes; i++) {
        if (!probes[i].is_alloc)
            continue;
        snprintf(rel, sizeof(rel), "events/" GROUP "/%.63s/filter", probes[i].name);
        if ((err = tfs_write(rel, filter, 0)))
            return cant("cannot set the filter of %s: %s (%s)", probes[i].name, strerror(-err), filter);
    }
    read_missed(missed);
    for (size_t i = 0; i < nprobes; i++)
        probes[i].missed0 = missed[i];
    if (save_state())
        return cant("cannot write %s: %s", STATE_FILE, strerror(errno));
    if ((err = tfs_write("events/" GROUP "/enable", "1", 0)) || (err = tfs_write("trace", "", 0)) ||
        (err = tfs_write("tracing_on", "1", 0)))
        return cant("cannot start tracing: %s", strerror(-err));

    for (int i = 0; i < nmods && e < sizeof(excl); i++)
        e += (size_t)snprintf(excl + e, sizeof(excl) - e, " %s", mods[i].name);
    msg("window open: allocations count when called from the module area [0x%" PRIx64 ", 0x%" PRIx64
        ") (kernel image [0x%" PRIx64 ", 0x%" PRIx64 ")), except from the modules loaded now (%s)",
        lo, hi, tlo, thi, nmods ? excl + 1 : "none");
    return 0;
}

/* ---- reading the window: the ring buffer's binary pages --------------------- */

struct event {
    uint64_t ts, value, caller;
    int pid;
    int probe;
};

static struct event *events;
static size_t nevents, cap_events;
static int page_data_off = 16, page_commit_off = 8;

/* Offset of field `name` in an event's format file, or -1. */
static int field_offset(const char *probe, const char *name)
{
    char rel[256], p[512], line[256], pat[80];
    FILE *f;
    int off = -1;

    snprintf(rel, sizeof(rel), "events/" GROUP "/%s/format", probe);
    path_of(p, sizeof(p), rel);
    f = fopen(p, "r");
    if (!f)
        return -1;
    snprintf(pat, sizeof(pat), " %s;", name);
    while (fgets(line, sizeof(line), f)) {
        char *m = strstr(line, pat), *o;

        if (m && (o = strstr(m, "offset:"))) {
            off = atoi(o + 7);
            break;
        }
    }
    fclose(f);
    return off;
}

static int add_event(const uint8_t *d, size_t len, uint64_t ts)
{
    uint16_t type;

    if (len < 8)
        return 0;
    memcpy(&type, d, 2);
    for (size_t i = 0; i < nprobes; i++) {
        struct probe *p = &probes[i];
        struct event *ev;

        if (p->id != type)
            continue;
        if ((size_t)p->off_value + 8 > len || (size_t)p->off_pid + 4 > len ||
            (p->is_alloc && (size_t)p->off_caller + 8 > len))
            return -1;
        if (nevents == cap_events) {
            cap_events = cap_events ? cap_events * 2 : 4096;
            events = realloc(events, cap_events * sizeof(*events));
            if (!events)
                return -1;
        }
        ev = &events[nevents++];
        ev->ts = ts;
        ev->probe = (int)i;
        memcpy(&ev->value, d + p->off_value, 8);
        memcpy(&ev->pid, d + p->off_pid, 4);
        ev->caller = 0;
        if (p->is_alloc)
            memcpy(&ev->caller, d + p->off_caller, 8);
        return 0;
    }
    return 0; /* someone else's event */
}

/* One buffer_data_page: u64 time_stamp, local_t commit, then the events
 * (include/linux/ring_buffer.h; header_page and header_event describe it).
 * Returns 0, or -1 for a page this parser does not understand. */
static int parse_page(const uint8_t *pg, size_t size, int *missed)
{
    uint64_t ts, commit;
    size_t off = 0, end;

    memcpy(&ts, pg, 8);
    memcpy(&commit, pg + page_commit_off, 8);
    if (commit & (1ull << 31)) /* RB_MISSED_EVENTS */
        *missed = 1;
    end = (size_t)(commit & 0xfffff);
    if (end > size - (size_t)page_data_off)
        return -1;
    const uint8_t *d = pg + page_data_off;
    while (off + 4 <= end) {
        uint32_t hdr, arr = 0;
        unsigned type_len, delta;

        memcpy(&hdr, d + off, 4);
        type_len = hdr & 31;
        delta = hdr >> 5;
        if (off + 8 <= end)
            memcpy(&arr, d + off + 4, 4);
        switch (type_len) {
        case 29: /* padding; delta 0 = the rest of the page is empty */
            if (!delta)
                return 0;
            off += 4 + arr;
            break;
        case 30: /* time extend */
            ts += ((uint64_t)arr << 27) + delta;
            off += 8;
            break;
        case 31: /* absolute time stamp (59 bits) */
            ts = (ts & ~((1ull << 59) - 1)) | (((uint64_t)arr << 27) + delta);
            off += 8;
            break;
        case 0: /* data, length in array[0] (which it counts) */
            ts += delta;
            if (arr < 4 || off + 4 + arr > end || add_event(d + off + 8, arr - 4, ts))
                return -1;
            off += 4 + arr;
            break;
        default: /* data, type_len 32-bit words */
            ts += delta;
            if (off + 4 + type_len * 4 > end || add_event(d + off + 4, type_len * 4, ts))
                return -1;
            off += 4 + type_len * 4;
            break;
        }
    }
    return 0;
}

static int read_cpu(int cpu, int *missed)
{
    char rel[64], p[512];
    uint8_t pg[65536];
    int fd;

    snprintf(rel, sizeof(rel), "per_cpu/cpu%d/trace_pipe_raw", cpu);
    path_of(p, sizeof(p), rel);
    fd = open(p, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? 1 : -1;
    for (;;) {
        ssize_t n = read(fd, pg, 4096);

        if (n == 0 || (n < 0 && errno == EAGAIN))
            break;
        if (n < 0 || n < page_data_off || parse_page(pg, (size_t)n, missed)) {
            close(fd);
            return -1;
        }
    }
    close(fd);
    return 0;
}

static int by_time(const void *a, const void *b)
{
    const struct event *x = a, *y = b;

    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return 0;
}

static unsigned long stat_sum(const char *key)
{
    unsigned long sum = 0;
    char rel[64], p[512], line[256];

    for (int cpu = 0;; cpu++) {
        FILE *f;

        snprintf(rel, sizeof(rel), "per_cpu/cpu%d/stats", cpu);
        path_of(p, sizeof(p), rel);
        f = fopen(p, "r");
        if (!f)
            break;
        while (fgets(line, sizeof(line), f))
            if (!strncmp(line, key, strlen(key)))
                sum += strtoul(line + strlen(key), NULL, 10);
        fclose(f);
    }
    return sum;
}

/* ---- naming callers ------------------------------------------------------------ */

struct sym {
    char sect[48], name[64];
    uint64_t off, size;
};
struct sect {
    char name[48];
    uint64_t addr;
};

static struct sym *syms;
static size_t nsyms;
static struct sect *sects;
static size_t nsects;

static void load_syms(const char *symfile, const char *sectfile)
{
    char line[256];
    FILE *f;

    if (symfile && (f = fopen(symfile, "r"))) {
        struct sym s;

        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "%47s %" SCNx64 " %" SCNx64 " %63s", s.sect, &s.off, &s.size, s.name) == 4) {
                struct sym *n = realloc(syms, (nsyms + 1) * sizeof(*syms));

                if (!n)
                    break;
                syms = n;
                syms[nsyms++] = s;
            }
        fclose(f);
    }
    if (sectfile && (f = fopen(sectfile, "r"))) {
        struct sect s;

        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "%47s 0x%" SCNx64, s.name, &s.addr) == 2) {
                struct sect *n = realloc(sects, (nsects + 1) * sizeof(*sects));

                if (!n)
                    break;
                sects = n;
                sects[nsects++] = s;
            }
        fclose(f);
    }
}

/* The module's symbols are gone after rmmod: name a caller from the section
 * addresses recorded while it was loaded and the .ko's symbol table. */
static void symbolize(uint64_t ip, char *out, size_t n)
{
    for (size_t s = 0; s < nsects; s++)
        for (size_t i = 0; i < nsyms; i++)
            if (!strcmp(syms[i].sect, sects[s].name) && ip >= sects[s].addr + syms[i].off &&
                ip <= sects[s].addr + syms[i].off + syms[i].size) {
                snprintf(out, n, "%s+0x%" PRIx64 " [hvcore]", syms[i].name, ip - sects[s].addr - syms[i].off);
                return;
            }
    snprintf(out, n, "no symbol");
}

static void comm_of(int pid, char *out, size_t n)
{
    char p[512], line[128], comm[64];
    int q;
    FILE *f;

    snprintf(out, n, "pid %d", pid);
    path_of(p, sizeof(p), "saved_cmdlines");
    f = fopen(p, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "%d %63s", &q, comm) == 2 && q == pid)
            snprintf(out, n, "%s-%d", comm, pid);
    fclose(f);
}

static int cmd_check(const char *symfile, const char *sectfile)
{
    unsigned long overrun, dropped, missed_now[ARRAY_SIZE(probes)], amiss = 0, fmiss = 0;
    size_t nalloc = 0, nfreed = 0, nfrees = 0, nout = 0;
    struct event **out = NULL;
    double t0 = now();
    int err, lost = 0;

    if (find_tracefs())
        return cant("no tracefs with kprobe_events");
    if (load_state())
        return cant("no window is open (run \"hvleak start\" first)");
    if ((err = tfs_write("tracing_on", "0", 0)))
        return cant("cannot stop tracing: %s", strerror(-err));
    overrun = stat_sum("overrun: ");
    dropped = stat_sum("dropped events: ");
    read_missed(missed_now);
    for (size_t i = 0; i < nprobes; i++) {
        unsigned long d = missed_now[i] - probes[i].missed0;

        if (probes[i].is_alloc)
            amiss += d;
        else
            fmiss += d;
        probes[i].off_value = field_offset(probes[i].name, probes[i].is_alloc ? "ret" : "ptr");
        probes[i].off_caller = field_offset(probes[i].name, "__probe_ret_ip");
        probes[i].off_pid = field_offset(probes[i].name, "common_pid");
        if (probes[i].off_value < 0 || probes[i].off_pid < 0 || (probes[i].is_alloc && probes[i].off_caller < 0))
            return cant("unexpected format of event %s", probes[i].name);
    }
    {
        char hdr[1024], p[512], line[256];
        FILE *f;

        path_of(p, sizeof(p), "events/header_page");
        f = fopen(p, "r");
        if (!f)
            return cant("cannot read events/header_page: %s", strerror(errno));
        while (fgets(line, sizeof(line), f)) {
            char *o = strstr(line, "offset:");

            if (o && strstr(line, " commit;"))
                page_commit_off = atoi(o + 7);
            else if (o && strstr(line, " data;"))
                page_data_off = atoi(o + 7);
        }
        fclose(f);
        /* The entry header this parser knows (5-bit type_len, 27-bit delta). */
        path_of(p, sizeof(p), "events/header_event");
        f = fopen(p, "r");
        if (!f)
            return cant("cannot read events/header_event: %s", strerror(errno));
        {
            size_t n = fread(hdr, 1, sizeof(hdr) - 1, f);

            hdr[n] = '\0';
        }
        fclose(f);
        if (!strstr(hdr, "type_len    :    5 bits") || !strstr(hdr, "time_delta  :   27 bits") ||
            !strstr(hdr, "padding     : type == 29") || !strstr(hdr, "time_extend : type == 30"))
            return cant("the ring buffer's entry header is not the one this parser knows:\n%s", hdr);
    }
    for (int cpu = 0;; cpu++) {
        int r = read_cpu(cpu, &lost);

        if (r > 0)
            break;
        if (r < 0)
            return cant("cannot parse per_cpu/cpu%d/trace_pipe_raw (ring buffer layout changed?)", cpu);
    }
    qsort(events, nevents, sizeof(*events), by_time);

    /* Replay: outstanding allocations, keyed by (namespace, pointer). */
    out = calloc(nevents + 1, sizeof(*out));
    if (!out)
        return cant("out of memory");
    for (size_t i = 0; i < nevents; i++) {
        struct event *ev = &events[i];
        const struct probe *p = &probes[ev->probe];
        size_t k;

        if (!ev->value)
            continue; /* a failed allocation */
        for (k = 0; k < nout; k++)
            if (probes[out[k]->probe].ns == p->ns && out[k]->value == ev->value)
                break;
        if (p->is_alloc) {
            nalloc++;
            /* The same block again without a free between: a watched API
             * that called (or tail-called) another one. */
            if (k == nout)
                out[nout++] = ev;
        } else {
            nfrees++;
            if (k < nout) {
                out[k] = out[--nout];
                nfreed++;
            }
        }
    }
    msg("%zu events in the window: %zu allocations by module code, %zu freed, %zu outstanding; %zu frees seen; "
        "lost events: %lu overrun, %lu dropped%s; probe misses: %lu on allocations, %lu on frees (read in %.2f s)",
        nevents, nalloc, nfreed, nout, nfrees, overrun, dropped, lost ? ", page flagged" : "", amiss, fmiss,
        now() - t0);
    load_syms(symfile, sectfile);
    for (size_t k = 0; k < nout; k++) {
        char s[128], who[96];
        const struct probe *p = &probes[out[k]->probe];

        symbolize(out[k]->caller, s, sizeof(s));
        comm_of(out[k]->pid, who, sizeof(who));
        msg("outstanding: %s %s 0x%" PRIx64 " from %s (0x%" PRIx64 ") by %s at %" PRIu64 ".%06" PRIu64 " s",
            p->name + 3 + strlen(ns_name[p->ns]), ns_name[p->ns], out[k]->value, s, out[k]->caller, who,
            out[k]->ts / 1000000000u, out[k]->ts % 1000000000u / 1000u);
    }
    free(out);
    if (overrun || dropped || lost)
        return cant("the trace lost events, so frees may be missing: raise BUFFER_KB in hvleak.c");
    return nout ? 1 : 0;
}

static int cmd_stop(void)
{
    char line[128];
    int err;

    if (find_tracefs())
        return cant("no tracefs with kprobe_events");
    if (load_state())
        return 0;
    tfs_write("tracing_on", "0", 0);
    if ((err = tfs_write("events/" GROUP "/enable", "0", 0)))
        return cant("cannot disable the probes: %s", strerror(-err));
    for (size_t i = 0; i < nprobes; i++) {
        snprintf(line, sizeof(line), "-:" GROUP "/%.63s\n", probes[i].name);
        if ((err = tfs_write("kprobe_events", line, 1)))
            return cant("cannot remove probe %s: %s", probes[i].name, strerror(-err));
    }
    unlink(STATE_FILE);
    tfs_write("tracing_on", "1", 0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "start") && !strcmp(argv[2], "--imports"))
        return cmd_start(argv[3]);
    if (argc >= 2 && !strcmp(argv[1], "check")) {
        const char *symfile = NULL, *sectfile = NULL;

        for (int i = 2; i + 1 < argc; i += 2) {
            if (!strcmp(argv[i], "--syms"))
                symfile = argv[i + 1];
            else if (!strcmp(argv[i], "--sections"))
                sectfile = argv[i + 1];
        }
        return cmd_check(symfile, sectfile);
    }
    if (argc == 2 && !strcmp(argv[1], "stop"))
        return cmd_stop();
    fprintf(stderr, "usage: hvleak start --imports FILE | hvleak check [--syms FILE] [--sections FILE] | "
                    "hvleak stop\n");
    return 2;
}
