/* Screenshot to PNG (failover/shotpng.h): a strict PPM (P6) reader, and
 * libpng's simplified API to read a PNG and to write the result. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "failover/shotpng.h"

#define PPM_MIME "image/x-portable-pixmap"
#define PNG_MIME "image/png"

struct ppm {
	const unsigned char *p, *end;
	unsigned w, h, maxval;
};

static bool
ppm_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Whitespace and '#' comments (to the end of the line) before a number. */
static void
ppm_skip(struct ppm *m)
{
	while (m->p < m->end) {
		if (ppm_space(*m->p)) {
			m->p++;
		} else if (*m->p == '#') {
			while (m->p < m->end && *m->p != '\n')
				m->p++;
		} else {
			return;
		}
	}
}

/* A decimal in 1..max; at most 9 digits are read, so no overflow. */
static int
ppm_number(struct ppm *m, unsigned max, unsigned *out)
{
	unsigned v = 0, n = 0;

	ppm_skip(m);
	while (m->p < m->end && *m->p >= '0' && *m->p <= '9') {
		if (++n > 9)
			return -1;
		v = v * 10 + (unsigned)(*m->p++ - '0');
	}
	if (n == 0 || v == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
fail(char *why, size_t whylen, const char *msg)
{
	snprintf(why, whylen, "%s", msg);
	return -1;
}

/* The header of a P6 image; m->p is left on the first raster byte. */
static int
ppm_header(struct ppm *m, char *why, size_t whylen)
{
	if (m->end - m->p < 2 || m->p[0] != 'P' || m->p[1] != '6')
		return fail(why, whylen, "not a binary PPM (no P6 magic)");
	m->p += 2;
	if (m->p >= m->end || (!ppm_space(*m->p) && *m->p != '#'))
		return fail(why, whylen, "PPM header: no separator after the magic");
	if (ppm_number(m, UINT32_MAX / 10, &m->w) < 0 || ppm_number(m, UINT32_MAX / 10, &m->h) < 0)
		return fail(why, whylen, "PPM header: bad width or height");
	if (m->w > SHOTPNG_MAX_DIM || m->h > SHOTPNG_MAX_DIM ||
	    (uint64_t)m->w * m->h > SHOTPNG_MAX_PIXELS)
		return fail(why, whylen, "PPM image larger than a screenshot may be");
	if (ppm_number(m, 65535, &m->maxval) < 0)
		return fail(why, whylen, "PPM header: bad maxval (1..65535)");
	/* exactly one whitespace byte ends the header */
	if (m->p >= m->end || !ppm_space(*m->p))
		return fail(why, whylen, "PPM header: no separator before the raster");
	m->p++;
	return 0;
}

/* 8-bit RGB of a P6 image into a new buffer. */
static unsigned char *
ppm_rgb(const void *data, size_t len, unsigned *w, unsigned *h, char *why, size_t whylen)
{
	struct ppm m = { .p = data, .end = (const unsigned char *)data + len };
	size_t samples, bps;
	unsigned char *rgb;

	if (ppm_header(&m, why, whylen) < 0)
		return NULL;
	samples = (size_t)m.w * m.h * 3;
	bps = m.maxval > 255 ? 2 : 1;
	if ((size_t)(m.end - m.p) != samples * bps) {
		snprintf(why, whylen, "PPM raster is %zu bytes, %ux%u needs %zu",
			 (size_t)(m.end - m.p), m.w, m.h, samples * bps);
		return NULL;
	}
	if (!(rgb = malloc(samples))) {
		fail(why, whylen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < samples; i++) {
		unsigned v = bps == 2 ? (unsigned)m.p[2 * i] << 8 | m.p[2 * i + 1] : m.p[i];

		if (v > m.maxval) {
			free(rgb);
			fail(why, whylen, "PPM sample above maxval");
			return NULL;
		}
		rgb[i] = (unsigned char)(m.maxval == 255 ? v : (v * 255 + m.maxval / 2) / m.maxval);
	}
	*w = m.w;
	*h = m.h;
	return rgb;
}

/* 8-bit RGB of a PNG (any colour type; alpha composited on black). */
static unsigned char *
png_rgb(const void *data, size_t len, unsigned *w, unsigned *h, char *why, size_t whylen)
{
	png_image img;
	unsigned char *rgb = NULL;

	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&img, data, len)) {
		snprintf(why, whylen, "PNG: %s", img.message);
		return NULL;
	}
	if (img.width == 0 || img.height == 0 || img.width > SHOTPNG_MAX_DIM ||
	    img.height > SHOTPNG_MAX_DIM || (uint64_t)img.width * img.height > SHOTPNG_MAX_PIXELS) {
		png_image_free(&img);
		fail(why, whylen, "PNG image larger than a screenshot may be");
		return NULL;
	}
	img.format = PNG_FORMAT_RGB;
	if (!(rgb = malloc(PNG_IMAGE_SIZE(img)))) {
		png_image_free(&img);
		fail(why, whylen, "out of memory");
		return NULL;
	}
	if (!png_image_finish_read(&img, NULL, rgb, 0, NULL)) {
		snprintf(why, whylen, "PNG: %s", img.message);
		png_image_free(&img);
		free(rgb);
		return NULL;
	}
	*w = img.width;
	*h = img.height;
	return rgb;
}

static int
rgb_png(const unsigned char *rgb, unsigned w, unsigned h, void **png, size_t *png_len,
	char *why, size_t whylen)
{
	png_image img;
	png_alloc_size_t size = 0;
	void *out = NULL;

	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = w;
	img.height = h;
	img.format = PNG_FORMAT_RGB;
	/* the first call only sizes the output */
	if (!png_image_write_get_memory_size(img, size, 0, rgb, 0, NULL)) {
		snprintf(why, whylen, "PNG encoding: %s", img.message);
		png_image_free(&img);
		return -1;
	}
	if (!(out = malloc(size)))
		return fail(why, whylen, "out of memory");
	if (!png_image_write_to_memory(&img, out, &size, 0, rgb, 0, NULL)) {
		snprintf(why, whylen, "PNG encoding: %s", img.message);
		free(out);
		png_image_free(&img);
		return -1;
	}
	*png = out;
	*png_len = size;
	return 0;
}

int
shotpng_convert(const char *mime, const void *data, size_t len, void **png, size_t *png_len,
		unsigned *w, unsigned *h, char *why, size_t whylen)
{
	static const unsigned char png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	bool is_png = mime ? !strcmp(mime, PNG_MIME)
			   : len >= sizeof(png_sig) && !memcmp(data, png_sig, sizeof(png_sig));
	unsigned char *rgb;
	unsigned iw = 0, ih = 0;
	int ret;

	*png = NULL;
	*png_len = 0;
	if (len > SHOTPNG_MAX_INPUT)
		return fail(why, whylen, "screenshot larger than a screenshot may be");
	if (mime && !is_png && strcmp(mime, PPM_MIME)) {
		snprintf(why, whylen, "screenshot in an unknown format (%.64s)", mime);
		return -1;
	}
	rgb = is_png ? png_rgb(data, len, &iw, &ih, why, whylen)
		     : ppm_rgb(data, len, &iw, &ih, why, whylen);
	if (!rgb)
		return -1;
	ret = rgb_png(rgb, iw, ih, png, png_len, why, whylen);
	free(rgb);
	if (ret == 0 && w)
		*w = iw;
	if (ret == 0 && h)
		*h = ih;
	return ret;
}
