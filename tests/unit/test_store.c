/* test_store.c: the key store (src/store.c): versions and history, deletes, reads that
 * reveal deleted keys (store_delete_absent), and the memory budget: values dropped oldest
 * first, keys forgotten when bookkeeping alone is over, a FIFO that stays proportional to
 * the values held however many writes a long capture carries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "unit.h"

static struct store_key *put(struct store *s, const char *key, int64_t rev, const char *val)
{
	return store_put(s, (const uint8_t *)key, strlen(key), rev, rev, 1, 0, (const uint8_t *)val,
			 strlen(val), true, SRC_WRITE, rev);
}

static const struct store_version *latest(struct store *s, const char *key)
{
	return store_latest(store_get(s, (const uint8_t *)key, strlen(key)));
}

static void test_history(void)
{
	struct store *s = store_new(1 << 20);
	put(s, "/a", 5, "five");
	put(s, "/a", 3, "three"); /* older, seen later (a Range at an old revision) */
	put(s, "/a", 9, "nine");
	struct store_key *k = store_get(s, (const uint8_t *)"/a", 2);
	CHECK(k && k->n == 3);
	CHECK_EQ_INT(store_version_nth(k, 0)->mod_revision, 3);
	CHECK_EQ_INT(store_version_nth(k, 2)->mod_revision, 9);
	CHECK(store_version_nth(k, 3) == NULL);
	CHECK_EQ_INT(store_at(k, 8)->mod_revision, 5);
	CHECK_EQ_INT(store_before(k, 9)->mod_revision, 5);
	for (int r = 10; r < 40; r++)
		put(s, "/a", r, "x");
	CHECK_EQ_INT(k->n, STORE_HISTORY);
	CHECK(k->forgotten > 0);
	CHECK_EQ_INT(store_latest(k)->mod_revision, 39);
	store_delete(s, (const uint8_t *)"/a", 2, 40, SRC_WRITE, 40);
	CHECK(latest(s, "/a")->deleted);
	store_free(s);
}

/* A whole Range answer over /p/ at revision 20 lists /p/1 only: /p/2 (known live at 7) is
 * gone; /p/3 changed at 25, after the read, and stays; /q/1 is outside the range. */
static void test_delete_absent(void)
{
	struct store *s = store_new(1 << 20);
	put(s, "/p/1", 5, "a");
	put(s, "/p/2", 7, "b");
	put(s, "/p/3", 25, "c");
	put(s, "/q/1", 6, "d");
	store_mark_begin(s);
	put(s, "/p/1", 5, "a");
	size_t n = store_delete_absent(s, (const uint8_t *)"/p/", 3, (const uint8_t *)"/p0", 3, 20, 20,
				       SRC_RANGE, 100);
	CHECK_EQ_INT(n, 1);
	CHECK(!latest(s, "/p/1")->deleted);
	CHECK(latest(s, "/p/2")->deleted);
	CHECK_EQ_INT(latest(s, "/p/2")->mod_revision, 20);
	CHECK(!latest(s, "/p/3")->deleted);
	CHECK(!latest(s, "/q/1")->deleted);
	/* a single-key read that finds nothing; and "\0" = every key from the start on */
	store_mark_begin(s);
	CHECK_EQ_INT(store_delete_absent(s, (const uint8_t *)"/q/1", 4, NULL, 0, 30, 30, SRC_RANGE, 1), 1);
	store_mark_begin(s);
	CHECK_EQ_INT(store_delete_absent(s, (const uint8_t *)"/p/3", 4, (const uint8_t *)"", 1, 40, 40,
					 SRC_RANGE, 1), 1);
	CHECK(latest(s, "/p/3")->deleted);
	store_free(s);
}

/* Values are dropped oldest first; metadata stays; the newest value survives. */
static void test_value_budget(void)
{
	struct store *s = store_new(64 << 10);
	char val[1000];
	memset(val, 'v', sizeof val - 1);
	val[sizeof val - 1] = 0;
	char key[32];
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "/k/%03d", i);
		put(s, key, i + 1, val);
	}
	struct store_stats st;
	store_get_stats(s, &st);
	CHECK(st.value_bytes + st.meta_bytes <= st.budget);
	CHECK(st.dropped_values > 0);
	CHECK_EQ_INT(st.keys, 100);
	CHECK(latest(s, "/k/000")->value == NULL);
	CHECK(latest(s, "/k/099")->value != NULL);
	CHECK_EQ_INT(latest(s, "/k/000")->value_len, sizeof val - 1);
	store_free(s);
}

/* Many small keys: bookkeeping alone goes over, the least recently changed keys go. */
static void test_key_eviction(void)
{
	struct store *s = store_new(256 << 10);
	char key[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof key, "/events/e%06d", i);
		put(s, key, i + 1, "");
	}
	struct store_stats st;
	store_get_stats(s, &st);
	CHECK(st.meta_bytes <= st.budget);
	CHECK(st.evicted_keys > 0);
	CHECK_EQ_INT(st.keys + st.evicted_keys, 20000);
	CHECK(latest(s, "/events/e019999") != NULL);
	CHECK(latest(s, "/events/e000000") == NULL);
	store_free(s);
}

/* One key rewritten a million times (a Lease renewed for days): its ring drops old values,
 * and the FIFO of value owners stays small instead of growing by one entry per write. */
static void test_fifo_bounded(void)
{
	struct store *s = store_new(1 << 20);
	for (int i = 1; i <= 200000; i++)
		put(s, "/registry/leases/kube-system/kube-scheduler", i, "holder");
	struct store_stats st;
	store_get_stats(s, &st);
	CHECK(st.fifo_entries <= 2 * STORE_HISTORY + 2048);
	CHECK_EQ_INT(st.keys, 1);
	store_free(s);
}

int main(void)
{
	test_history();
	test_delete_absent();
	test_value_budget();
	test_key_eviction();
	test_fifo_bounded();
	printf("test_store: %d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed != 0;
}
