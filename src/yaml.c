/* yaml.c: YAML-like printing of Kubernetes objects (see yaml.h). Strings that YAML would
 * misread are quoted with JSON escaping, so the output is also valid YAML. */
#include "yaml.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static bool needs_quotes(const char *s)
{
	if (!*s)
		return true;
	if (!strcmp(s, "true") || !strcmp(s, "false") || !strcmp(s, "null") || !strcmp(s, "~") ||
	    !strcmp(s, "yes") || !strcmp(s, "no"))
		return true;
	if (isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == ' ' || strchr("!&*{}[]|>'\"%@`#,?:", s[0]))
		return true;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (p[0] == ':' && (p[1] == ' ' || !p[1])) ||
		    (p[0] == ' ' && p[1] == '#'))
			return true;
	return s[strlen(s) - 1] == ' ';
}

static void scalar(struct out *out, const json_t *v)
{
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (needs_quotes(s)) {
			char *q = json_dumps(v, JSON_ENCODE_ANY);
			out_tprintf(out, "%s", q ? q : "\"\"");
			free(q);
		} else {
			out_tprintf(out, "%s", s);
		}
		return;
	}
	char *q = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	out_tprintf(out, "%s", q ? q : "null");
	free(q);
}

static bool is_empty_container(const json_t *v)
{
	return (json_is_object(v) && json_object_size(v) == 0) || (json_is_array(v) && json_array_size(v) == 0);
}

static void node(struct out *out, const json_t *v, int indent);

static void member(struct out *out, const char *key, const json_t *v, int indent)
{
	out_tprintf(out, "%*s%s:", indent, "", key);
	if (json_is_object(v) || json_is_array(v)) {
		if (is_empty_container(v)) {
			out_tprintf(out, " %s", json_is_object(v) ? "{}" : "[]");
			out_temit(out);
			return;
		}
		out_temit(out);
		node(out, v, json_is_array(v) ? indent : indent + 2);
		return;
	}
	out_tprintf(out, " ");
	scalar(out, v);
	out_temit(out);
}

static void object_in_order(struct out *out, const json_t *obj, int indent, const char *const *first)
{
	for (int i = 0; first && first[i]; i++) {
		const json_t *v = json_object_get(obj, first[i]);
		if (v)
			member(out, first[i], v, indent);
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v) {
		bool done = false;
		for (int i = 0; first && first[i]; i++)
			done |= !strcmp(first[i], k);
		if (!done)
			member(out, k, v, indent);
	}
}

/* Array items: "- " then the item; an object item's first member shares the dash line. */
static void node(struct out *out, const json_t *v, int indent)
{
	if (json_is_object(v)) {
		object_in_order(out, v, indent, NULL);
		return;
	}
	size_t i;
	json_t *it;
	json_array_foreach((json_t *)v, i, it) {
		if (json_is_object(it) && json_object_size(it)) {
			bool firstm = true;
			const char *k;
			json_t *mv;
			json_object_foreach(it, k, mv) {
				if (firstm) {
					out_tprintf(out, "%*s- ", indent, "");
					if (json_is_object(mv) || json_is_array(mv)) {
						out_tprintf(out, "%s:", k);
						if (is_empty_container(mv)) {
							out_tprintf(out, " %s", json_is_object(mv) ? "{}" : "[]");
							out_temit(out);
						} else {
							out_temit(out);
							node(out, mv, json_is_array(mv) ? indent + 2 : indent + 4);
						}
					} else {
						out_tprintf(out, "%s: ", k);
						scalar(out, mv);
						out_temit(out);
					}
					firstm = false;
				} else {
					member(out, k, mv, indent + 2);
				}
			}
		} else if (json_is_array(it) || json_is_object(it)) {
			out_tprintf(out, "%*s- %s", indent, "", json_is_array(it) && json_array_size(it) ? "" : "[]");
			out_temit(out);
			if (json_array_size(it))
				node(out, it, indent + 2);
		} else {
			out_tprintf(out, "%*s- ", indent, "");
			scalar(out, it);
			out_temit(out);
		}
	}
}

void yaml_print_object(struct out *out, const json_t *obj)
{
	static const char *const TOP[] = {"apiVersion", "kind", NULL};
	static const char *const META[] = {"name", "generateName", "namespace", "uid", "resourceVersion",
					   "generation", "creationTimestamp", "deletionTimestamp",
					   "labels", "annotations", "ownerReferences", "finalizers",
					   "managedFields", NULL};
	if (!json_is_object(obj)) {
		out_tprintf(out, "value: ");
		scalar(out, obj);
		out_temit(out);
		return;
	}
	for (int i = 0; TOP[i]; i++) {
		const json_t *v = json_object_get(obj, TOP[i]);
		if (v)
			member(out, TOP[i], v, 0);
	}
	const json_t *md = json_object_get(obj, "metadata");
	if (json_is_object(md)) {
		out_tprintf(out, "metadata:");
		out_temit(out);
		object_in_order(out, md, 2, META);
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v) {
		if (!strcmp(k, "apiVersion") || !strcmp(k, "kind") || !strcmp(k, "metadata"))
			continue;
		member(out, k, v, 0);
	}
}
