/* libvidaction version numbers. The Makefile reads these three lines. */
#ifndef VIDACTION_VERSION_H
#define VIDACTION_VERSION_H

#define VIDA_VERSION_MAJOR 0
#define VIDA_VERSION_MINOR 5
#define VIDA_VERSION_PATCH 0

/* MAJOR*10000 + MINOR*100 + PATCH, as vida_version_number() returns it. */
#define VIDA_VERSION_NUMBER \
    (VIDA_VERSION_MAJOR * 10000 + VIDA_VERSION_MINOR * 100 + VIDA_VERSION_PATCH)

#endif
