/* Name resolution for the protocol's sockets (see addr.h). */
#include "proto/addr.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"

int
addr_resolve(const char *what, const char *host, uint16_t port, bool passive,
	     struct addrinfo **res)
{
	struct addrinfo hints;
	char portstr[8];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	snprintf(portstr, sizeof(portstr), "%u", port);
	r = getaddrinfo(host, portstr, &hints, res);
	if (r != 0) {
		*res = NULL;
		log_error("%s: cannot resolve: %s", what,
			  r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -1;
	}
	return 0;
}
