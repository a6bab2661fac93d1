/* webot_batchq.h: the wait queue of a leader/follower batch (job creation
 * groups, API key lookups): a FIFO through the items' own `next` pointers,
 * whose front a leader takes in one go. Macros, as APR_RING, so that each
 * user keeps its own item type (a struct with `next` and an int `state`).
 * Not locked: the caller holds the mutex that guards the queue.
 * Core: no dependencies. */
#ifndef WEBOT_BATCHQ_H
#define WEBOT_BATCHQ_H

#include <stddef.h>

/* A queue of `type` items (declare with WEBOT_BATCHQ(type) name;
 * zero-initialized is empty). */
#define WEBOT_BATCHQ(type) struct { type *head, *tail; }

#define WEBOT_BATCHQ_EMPTY(q) ((q)->head == NULL)

/* Appends item at the back. */
#define WEBOT_BATCHQ_PUSH(q, item) do {                                  \
        (item)->next = NULL;                                             \
        if ((q)->tail) {                                                 \
            (q)->tail->next = (item);                                    \
        }                                                                \
        else {                                                           \
            (q)->head = (item);                                          \
        }                                                                \
        (q)->tail = (item);                                              \
    } while (0)

/* Moves up to max items from the front into v[0..], in order, sets each
 * one's state to st, and sets n to how many were taken. */
#define WEBOT_BATCHQ_TAKE(q, v, max, st, n) do {                         \
        for ((n) = 0; (q)->head && (n) < (max); (n)++) {                 \
            (v)[n] = (q)->head;                                          \
            (v)[n]->state = (st);                                        \
            (q)->head = (q)->head->next;                                 \
        }                                                                \
        if (!(q)->head) {                                                \
            (q)->tail = NULL;                                            \
        }                                                                \
    } while (0)

#endif
