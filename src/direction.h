/* direction.h: which side of a TCP connection joined mid-stream is the etcd server, from
 * the bytes alone (-p auto, no handshake captured: the port numbers say nothing when both
 * are ephemeral, as with envtest's random etcd port). */
#ifndef EE_DIRECTION_H
#define EE_DIRECTION_H

#include <stddef.h>
#include <stdint.h>

enum dir_verdict { DIR_UNKNOWN = 0, DIR_FROM_CLIENT = 1, DIR_FROM_SERVER = 2 };

/* Looks at bytes sent by one side (they may start anywhere in the HTTP/2 stream) for a
 * chain of frame headers and then for a sign of who sent them: the client preface; HEADERS
 * starting with :method / :scheme / :path (client) or :status (server); a gRPC message
 * opening with an etcd ResponseHeader (server). */
enum dir_verdict direction_sniff(const uint8_t *p, size_t n);

#endif
