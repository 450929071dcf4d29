/* commands.c: the command table. */
#include <string.h>

#include "app.h"

extern const struct command_ops cmd_trace, cmd_status, cmd_members, cmd_size, cmd_list,
	cmd_count, cmd_get, cmd_search, cmd_custom, cmd_watch, cmd_writes, cmd_why;

static const struct command_ops *const COMMANDS[] = {
	&cmd_trace, &cmd_status, &cmd_members, &cmd_size, &cmd_list, &cmd_count, &cmd_get,
	&cmd_search, &cmd_custom, &cmd_watch, &cmd_writes, &cmd_why,
};

const struct command_ops *command_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
		if (!strcmp(COMMANDS[i]->name, name))
			return COMMANDS[i];
	return NULL;
}
