/*
 * test.h: the smallest assertion helper that does the job (in the spirit of
 * redis's testhelp.h). Each check prints a line only when it fails; t_done()
 * prints the closing "N passed, N failed" line that tests/run.sh adds up.
 */
#ifndef ANON_TEST_H
#define ANON_TEST_H

#include <stdio.h>
#include <string.h>

static int t_passed, t_failed;

#define T_CHECK(cond) t_check_((cond) != 0, #cond, __FILE__, __LINE__)
#define T_EQ_INT(a, b) t_eq_int_((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__)
#define T_EQ_STR(a, b) t_eq_str_((a), (b), #a, #b, __FILE__, __LINE__)

static inline int t_check_(int ok, const char *expr, const char *file, int line)
{
    if (ok) {
        t_passed++;
    } else {
        t_failed++;
        printf("FAIL %s:%d: %s\n", file, line, expr);
    }
    return ok;
}

static inline int t_eq_int_(long long a, long long b, const char *ea, const char *eb,
                            const char *file, int line)
{
    if (a == b) {
        t_passed++;
        return 1;
    }
    t_failed++;
    printf("FAIL %s:%d: %s == %s (%lld != %lld)\n", file, line, ea, eb, a, b);
    return 0;
}

static inline int t_eq_str_(const char *a, const char *b, const char *ea, const char *eb,
                            const char *file, int line)
{
    if (a != NULL && b != NULL && strcmp(a, b) == 0) {
        t_passed++;
        return 1;
    }
    t_failed++;
    printf("FAIL %s:%d: %s == %s (\"%s\" != \"%s\")\n", file, line, ea, eb,
           a ? a : "(null)", b ? b : "(null)");
    return 0;
}

static inline int t_done(void)
{
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed ? 1 : 0;
}

#endif
