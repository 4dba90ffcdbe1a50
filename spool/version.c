/* version.c: the project's version as the library was built (anon_telemetry.h). */
#include "anon_telemetry.h"

const char *anon_version(void)
{
    return ANON_TELEMETRY_VERSION;
}
