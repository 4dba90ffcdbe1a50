/*
 * test_backoff.c: nominal delays double from a minute up to the cap; jitter keeps
 * every delay within [nominal/2, nominal].
 */
#include "backoff.h"
#include "test.h"

int main(void)
{
    T_EQ_INT(backoff_nominal_ms(1), 60000);
    T_EQ_INT(backoff_nominal_ms(2), 120000);
    T_EQ_INT(backoff_nominal_ms(3), 240000);
    T_EQ_INT(backoff_nominal_ms(4), 480000);
    T_EQ_INT(backoff_nominal_ms(0), 60000);
    T_EQ_INT(backoff_nominal_ms(-3), 60000);
    T_EQ_INT(backoff_nominal_ms(9), 60000LL << 8);
    T_EQ_INT(backoff_nominal_ms(10), BACKOFF_CAP_MS);
    T_EQ_INT(backoff_nominal_ms(1000), BACKOFF_CAP_MS);
    T_EQ_INT(backoff_nominal_ms(2147483647), BACKOFF_CAP_MS);

    T_EQ_INT(backoff_delay_ms(1, 0.0), 30000);
    T_EQ_INT(backoff_delay_ms(1, 1.0), 60000);
    T_EQ_INT(backoff_delay_ms(1, 0.5), 45000);
    T_EQ_INT(backoff_delay_ms(3, 0.0), 120000);
    T_EQ_INT(backoff_delay_ms(1, -1.0), 30000);
    T_EQ_INT(backoff_delay_ms(1, 7.0), 60000);
    T_EQ_INT(backoff_delay_ms(100, 1.0), BACKOFF_CAP_MS);
    T_EQ_INT(backoff_delay_ms(100, 0.0), BACKOFF_CAP_MS / 2);

    /* random values: always within bounds, and they do vary */
    {
        int ok = 1, varied = 0;
        double first = backoff_random();

        for (int i = 0; i < 1000; i++) {
            double r = backoff_random();
            int n = 1 + i % 12;
            int64_t d = backoff_delay_ms(n, r);
            int64_t nom = backoff_nominal_ms(n);

            if (r < 0.0 || r >= 1.0 || d < nom / 2 || d > nom)
                ok = 0;
            if (r != first)
                varied = 1;
        }
        T_CHECK(ok);
        T_CHECK(varied);
    }
    /* monotonic in n at equal jitter */
    for (int n = 1; n < 20; n++)
        T_CHECK(backoff_delay_ms(n + 1, 0.3) >= backoff_delay_ms(n, 0.3));
    return t_done();
}
