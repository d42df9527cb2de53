/* Names from configs and from the network become file names on the receiver,
 * so the accepted alphabet is deliberately tiny. */
#include "common/names.h"

static bool
name_char_ok(unsigned char c)
{
	/* Spelled out instead of isalnum(): locale must not widen the set. */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool
name_valid(const char *s, size_t len)
{
	if (s == NULL || len == 0 || len > NAME_MAX_LEN)
		return false;
	/* A leading '.' covers ".", ".." and hidden files; a leading '-' would
	 * look like an option to the tools (qemu-img, rbd) we pass names to. */
	if (s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char_ok((unsigned char)s[i]))
			return false;
	return true;
}
