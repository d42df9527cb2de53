/* HTML escaping (common/htmlesc.h). */
#include "common/htmlesc.h"

void
htmlesc_fputs(const char *s, FILE *f)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		case '\t':
		case '\n': fputc(*p, f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fputs("\xef\xbf\xbd", f); /* U+FFFD */
			else
				fputc(*p, f);
		}
	}
}
