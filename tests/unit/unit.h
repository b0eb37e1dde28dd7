/*
 * unit.h -- shared scaffolding for the Check unit tests: every test binary
 * prints TAP (one line per test case function) for automake's TAP driver.
 */
#ifndef TS_UNIT_H
#define TS_UNIT_H

#include <check.h>
#include <stdlib.h>

#define UNIT_MAIN(suite_fn)                                  \
    int main(void)                                           \
    {                                                        \
        SRunner *sr = srunner_create(suite_fn());            \
        srunner_set_tap(sr, "-");                            \
        srunner_run_all(sr, CK_SILENT);                      \
        int failed = srunner_ntests_failed(sr);              \
        srunner_free(sr);                                    \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;    \
    }

#endif
