/* etcd_int.h: private interface between the files of the etcd stage (etcd.c, etcd_infer.c).
 * Not for other stages: their interface is etcd.h. */
#ifndef EE_ETCD_INT_H
#define EE_ETCD_INT_H

#include "etcd.h"

/* A score below this marks a method rejected for a message (its shape cannot be that). */
#define ETCD_INFER_REJECT (-1000)

/* Scores every method for one message seen in dir: score[m] <= ETCD_INFER_REJECT when the
 * bytes cannot be m's message, higher = better fit. score[EM_UNKNOWN] is always rejected.
 * Returns the message's evidence: how many informative top-level fields it has (a response
 * header alone tells nothing about the method). */
int etcd_infer_score(enum tcp_dir dir, const uint8_t *p, size_t n, int score[EM__COUNT]);

/* Picks the best of summed scores: returns EM_UNKNOWN when every method is rejected.
 * *confidence (0..100) grows with the margin over the runner-up and is capped by the summed
 * evidence of the messages scored. */
enum etcd_method etcd_infer_pick(const int score[EM__COUNT], int evidence, int *confidence);

#endif
