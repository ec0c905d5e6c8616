/*
 * Handle call guards: the public API's handles are used by one thread at a
 * time; a call made while another thread is inside a call on the same handle
 * is refused (VIDA_ESTATE) instead of racing with it. The owner is marked by
 * the address of a thread-local byte, so a thread may re-enter (a public call
 * made from inside another on the same handle).
 */
#include "core/core.h"

static _Thread_local char thread_mark;

int vidai_guard_enter(vidai_guard *g, const char *fn, const char *what)
{
    const uintptr_t me = (uintptr_t)&thread_mark;
    uintptr_t none = 0;
    if (__atomic_load_n(&g->owner, __ATOMIC_RELAXED) == me) {
        g->depth++;
        return VIDA_OK;
    }
    if (__atomic_compare_exchange_n(&g->owner, &none, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        g->depth = 1;
        return VIDA_OK;
    }
    return vidai_error(VIDA_ESTATE, "%s: the %s is in use by another thread (a handle is used by "
                       "one thread at a time)", fn, what);
}

void vidai_guard_leave(vidai_guard *g)
{
    if (--g->depth == 0)
        __atomic_store_n(&g->owner, 0, __ATOMIC_RELEASE);
}
