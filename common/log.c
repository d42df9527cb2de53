/* Logging to stderr; thread-safe (one fprintf per line, stdio locks the stream). */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level cur_level = LOG_LVL_INFO;
static char cur_prefix[32] = "nestor";

void
log_set_level(enum log_level level)
{
	cur_level = level;
}

enum log_level
log_get_level(void)
{
	return cur_level;
}

void
log_set_prefix(const char *prefix)
{
	snprintf(cur_prefix, sizeof(cur_prefix), "%s", prefix ? prefix : "nestor");
}

int
log_level_parse(const char *s, enum log_level *out)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* One event, one line: a control byte (newline, ESC, ...) in a message would
 * let whoever chose the text (a peer's name or error text, a child's stderr)
 * forge log lines or drive the operator's terminal, so each is written as
 * \xNN; so are the C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F).
 * out must hold 4 * strlen(in) + 1 bytes. */
static void
log_escape(const char *in, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)in;

	for (; *p; p++) {
		bool c1 = p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;

		if (*p >= 0x20 && *p != 0x7f && !c1) {
			*out++ = (char)*p;
			continue;
		}
		if (c1)
			p++; /* the escape names the code point's second byte */
		*out++ = '\\';
		*out++ = 'x';
		*out++ = hex[*p >> 4];
		*out++ = hex[*p & 0xf];
	}
	*out = '\0';
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const tags[] = { "error", "warning", "info", "debug" };
	char line[2048], safe[4 * sizeof(line)];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int saved = errno;

	if (level > cur_level || level < LOG_LVL_ERROR)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	errno = saved; /* keep %m meaningful */
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_escape(line, safe);
	fprintf(stderr, "%02d:%02d:%02d.%03ld %s %s: %s\n", tm.tm_hour, tm.tm_min,
		tm.tm_sec, ts.tv_nsec / 1000000, cur_prefix, tags[level], safe);
	errno = saved;
}
