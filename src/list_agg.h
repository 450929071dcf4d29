/* list_agg.h: joins the pages of a paginated LIST into one record (issue "Kubernetes
 * meaning": "paginated LISTs ... shown as one LIST").
 *
 * The API server (and any clientv3 pager) lists a prefix in pages: the first Range has a
 * limit and gets more=true; each next Range starts at the previous page's last key + "\0",
 * keeps range_end, and pins the revision the first page was served at. The aggregator
 * follows those chains across connections (a pager may change connection between pages)
 * and, when the last page arrives (more=false), emits a REC_LIST record. A chain cut short
 * (error, missing response, capture end, idle for LIST_IDLE_US, table full) is emitted with
 * complete=false; a chain that never got past its first page is dropped (a Range with a
 * limit that nobody continued, e.g. `etcdctl get --limit`). Memory: at most LIST_MAX_OPEN chains, each holding two keys. */
#ifndef EE_LIST_AGG_H
#define EE_LIST_AGG_H

#include "record.h"

struct list_agg;

typedef void (*list_emit_fn)(void *ctx, const struct etcd_record *r);

struct list_agg *list_agg_new(void);
void list_agg_free(struct list_agg *la);
/* Feeds one record (only Range RPCs matter). Returns the page number of r within its
 * LIST (1 = first page), or 0 when r is not a page of a paginated LIST it could follow.
 * A finished LIST is emitted through emit after the caller handled r: call
 * list_agg_flush right after printing r. */
int list_agg_feed(struct list_agg *la, const struct etcd_record *r);
/* Emits the LISTs finished (or given up) by the last feed. */
void list_agg_flush(struct list_agg *la, list_emit_fn emit, void *ctx);
/* End of input: emits every open LIST as incomplete. */
void list_agg_finish(struct list_agg *la, list_emit_fn emit, void *ctx);

#endif
