/* yaml.h: prints a decoded object (jansson tree) as YAML-like text for `get`: kind,
 * apiVersion and metadata first (metadata's identity fields before labels, annotations,
 * managedFields), then the rest in the object's own order. */
#ifndef EE_YAML_H
#define EE_YAML_H

#include <jansson.h>

#include "out.h"

void yaml_print_object(struct out *out, const json_t *obj);

#endif
