/*
 * ferry-dirtier: the lab guest's workload. Dirties guest RAM at a chosen rate so
 * live-migration tests can control how hard a migration is to converge.
 *
 *   ferry-dirtier RATE_MIB_PER_S REGION_MIB
 *
 * Writes one byte into every 4 KiB page of a REGION_MIB region, page after page,
 * paced so that RATE_MIB_PER_S worth of pages get dirtied per second (one write
 * dirties a whole page for the hypervisor's dirty log). The byte changes on every
 * pass so pages never look like zero pages to QEMU's migration. Rate 0 = idle.
 * Before each write it checks that the page still holds what the previous pass
 * wrote: a lost write (a page the migration failed to carry over) is reported
 * as "ferry-dirtier: CORRUPTION ...".
 * Prints a line when started and a progress line every 10 s to stdout (the serial
 * console when run by the guest's init).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SIZE 4096UL
#define PAGES_PER_MIB (1024UL * 1024UL / PAGE_SIZE)
/* Never try to catch up more than this much lost time in one go (TCG vCPUs
 * are often descheduled); the rate is a ceiling, not a debt. */
#define MAX_BACKLOG_S 0.1

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long parse_arg(const char *s, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0) {
        fprintf(stderr, "ferry-dirtier: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s RATE_MIB_PER_S REGION_MIB\n", argv[0]);
        return 2;
    }
    long rate_mib = parse_arg(argv[1], "rate");
    long region_mib = parse_arg(argv[2], "region size");
    if (region_mib == 0)
        region_mib = 1;

    size_t pages = (size_t)region_mib * PAGES_PER_MIB;
    unsigned char *region = mmap(NULL, pages * PAGE_SIZE, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (region == MAP_FAILED) {
        perror("ferry-dirtier: mmap");
        return 1;
    }
    for (size_t p = 0; p < pages; p++)
        region[p * PAGE_SIZE] = 1;

    printf("ferry-dirtier: started rate=%ld MiB/s region=%ld MiB\n", rate_mib, region_mib);
    fflush(stdout);

    const double pages_per_s = (double)rate_mib * (double)PAGES_PER_MIB;
    const double start = now_s();
    double credit_from = start;     /* time up to which the rate has been paid */
    double next_report = start + 10.0;
    unsigned long long dirtied = 0;
    unsigned long long corrupt = 0;
    size_t pos = 0;
    unsigned char previous = 1, value = 2;

    for (;;) {
        double t = now_s();
        if (rate_mib > 0) {
            if (t - credit_from > MAX_BACKLOG_S)
                credit_from = t - MAX_BACKLOG_S;
            unsigned long long due = (unsigned long long)((t - credit_from) * pages_per_s);
            for (unsigned long long n = 0; n < due; n++) {
                unsigned char *byte = &region[pos * PAGE_SIZE];
                if (*byte != previous && corrupt++ < 10) {
                    printf("ferry-dirtier: CORRUPTION page %zu holds %u, expected %u\n",
                           pos, *byte, previous);
                    fflush(stdout);
                }
                *byte = value;
                if (++pos == pages) {
                    pos = 0;
                    previous = value;
                    value = (unsigned char)(value == 255 ? 1 : value + 1);
                }
            }
            dirtied += due;
            credit_from += (double)due / pages_per_s;
        }
        if (t >= next_report) {
            printf("ferry-dirtier: t=%.0fs dirtied=%llu MiB avg=%.1f MiB/s corrupt=%llu\n",
                   t - start, dirtied / PAGES_PER_MIB,
                   (double)dirtied / PAGES_PER_MIB / (t - start), corrupt);
            fflush(stdout);
            next_report += 10.0;
        }
        usleep(rate_mib > 0 ? 1000 : 1000000);
    }
}
