/* Unit tests for failover/shotpng: PPM and PNG screenshots to PNG, with
 * malformed headers and oversize images refused. */
#include "failover/shotpng.h"

#include <criterion/criterion.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decode png with libpng into rgb[cap]; returns its width * height. */
static size_t
decode(const void *png, size_t len, unsigned char *rgb, size_t cap, unsigned *w, unsigned *h)
{
	png_image img;

	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	cr_assert(png_image_begin_read_from_memory(&img, png, len), "%s", img.message);
	img.format = PNG_FORMAT_RGB;
	cr_assert_leq(PNG_IMAGE_SIZE(img), cap);
	cr_assert(png_image_finish_read(&img, NULL, rgb, 0, NULL), "%s", img.message);
	*w = img.width;
	*h = img.height;
	return (size_t)img.width * img.height;
}

/* A PNG made by libpng of w x h RGB pixels (malloc'd). */
static void *
encode(const unsigned char *rgb, unsigned w, unsigned h, size_t *len)
{
	png_image img;
	png_alloc_size_t size = 0;
	void *out;

	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = w;
	img.height = h;
	img.format = PNG_FORMAT_RGB;
	cr_assert(png_image_write_get_memory_size(img, size, 0, rgb, 0, NULL));
	out = malloc(size);
	cr_assert(png_image_write_to_memory(&img, out, &size, 0, rgb, 0, NULL));
	*len = size;
	return out;
}

static int
convert(const char *mime, const void *data, size_t len, void **png, size_t *png_len,
	char *why, size_t whylen)
{
	unsigned w = 0, h = 0;

	return shotpng_convert(mime, data, len, png, png_len, &w, &h, why, whylen);
}

Test(shotpng, tiny_ppm_keeps_its_pixels)
{
	static const unsigned char ppm[] = "P6\n# QEMU screendump\n2 2\n255\n"
					   "\xff\x00\x00" "\x00\xff\x00" "\x00\x00\xff" "\x10\x20\x30";
	unsigned char rgb[12];
	void *png = NULL;
	size_t len = 0;
	unsigned w = 0, h = 0;
	char why[128] = "";

	cr_assert_eq(shotpng_convert("image/x-portable-pixmap", ppm, sizeof(ppm) - 1, &png, &len,
				     &w, &h, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(w, 2);
	cr_assert_eq(h, 2);
	cr_assert(len > 8 && !memcmp(png, "\x89PNG\r\n\x1a\n", 8));
	cr_assert_eq(decode(png, len, rgb, sizeof(rgb), &w, &h), 4);
	cr_assert_eq(memcmp(rgb, ppm + sizeof(ppm) - 1 - 12, 12), 0);
	free(png);
}

Test(shotpng, maxval_below_255_and_16_bit_samples_are_scaled)
{
	static const struct {
		const char *ppm;
		size_t len;
		unsigned char want[3];
	} cases[] = {
		{ "P6 1 1 15\n\x0f\x00\x07", 13, { 255, 0, 119 } },
		{ "P6 1 1 65535\n\xff\xff\x00\x00\x80\x00", 19, { 255, 0, 128 } },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char rgb[3];
		void *png = NULL;
		size_t len = 0;
		unsigned w, h;
		char why[128] = "";

		cr_assert_eq(convert(NULL, cases[i].ppm, cases[i].len, &png, &len, why,
				     sizeof(why)), 0, "case %zu: %s", i, why);
		decode(png, len, rgb, sizeof(rgb), &w, &h);
		cr_assert_eq(memcmp(rgb, cases[i].want, 3), 0, "case %zu: %u %u %u", i, rgb[0],
			     rgb[1], rgb[2]);
		free(png);
	}
}

/* Each refused with a reason containing want; nothing returned. */
static void
refused(const char *mime, const void *data, size_t len, const char *want)
{
	void *png = (void *)1;
	size_t plen = 1;
	char why[160] = "";

	cr_assert_eq(convert(mime, data, len, &png, &plen, why, sizeof(why)), -1,
		     "accepted: %.*s", (int)(len < 40 ? len : 40), (const char *)data);
	cr_assert_null(png);
	cr_assert_eq(plen, 0);
	cr_assert(strstr(why, want), "reason '%s', expected '%s'", why, want);
}

#define PPM "image/x-portable-pixmap"
#define REFUSED(mime, lit, want) refused(mime, lit, sizeof(lit) - 1, want)

Test(shotpng, malformed_ppm_headers_are_refused)
{
	REFUSED(PPM, "", "P6 magic");
	REFUSED(PPM, "P3\n1 1\n255\n0 0 0", "P6 magic");
	REFUSED(PPM, "P61 1 255\n\0\0\0", "separator after the magic");
	REFUSED(PPM, "P6\n1\n", "width or height");
	REFUSED(PPM, "P6\n0 1 255\n", "width or height");
	REFUSED(PPM, "P6\n-1 1 255\n\0\0\0", "width or height");
	REFUSED(PPM, "P6\n1 x 255\n\0\0\0", "width or height");
	REFUSED(PPM, "P6\n99999999999 1 255\n", "width or height");
	REFUSED(PPM, "P6\n1 1 0\n", "maxval");
	REFUSED(PPM, "P6\n1 1 65536\n\0\0\0\0\0\0", "maxval");
	REFUSED(PPM, "P6\n1 1 255", "separator before the raster");
	REFUSED(PPM, "P6\n1 1 255x\0\0\0", "separator before the raster");
	REFUSED(PPM, "P6\n2 1 255\n\0\0\0", "raster is 3 bytes, 2x1 needs 6");
	REFUSED(PPM, "P6\n1 1 255\n\0\0\0\0", "raster is 4 bytes");
	REFUSED(PPM, "P6\n1 1 9\n\0\x0a\0", "above maxval");
	REFUSED("image/gif", "GIF89a", "unknown format (image/gif)");
	REFUSED(NULL, "GIF89a", "P6 magic");
}

Test(shotpng, oversize_dimensions_are_refused_before_the_raster)
{
	char hdr[64];

	snprintf(hdr, sizeof(hdr), "P6\n%u 1\n255\n", SHOTPNG_MAX_DIM + 1);
	refused(PPM, hdr, strlen(hdr), "larger than a screenshot");
	snprintf(hdr, sizeof(hdr), "P6\n1 %u\n255\n", SHOTPNG_MAX_DIM + 1);
	refused(PPM, hdr, strlen(hdr), "larger than a screenshot");
	/* each side allowed, the product not */
	snprintf(hdr, sizeof(hdr), "P6\n%u %u\n255\n", SHOTPNG_MAX_DIM, SHOTPNG_MAX_DIM);
	refused(PPM, hdr, strlen(hdr), "larger than a screenshot");
	refused(PPM, hdr, (size_t)SHOTPNG_MAX_INPUT + 1, "larger than a screenshot");
}

Test(shotpng, png_input_is_decoded_and_written_anew)
{
	unsigned char rgb[6] = { 1, 2, 3, 250, 251, 252 }, back[6];
	size_t len, olen = 0;
	void *in = encode(rgb, 2, 1, &len), *out = NULL;
	unsigned w = 0, h = 0;
	char why[128] = "";

	cr_assert_eq(shotpng_convert("image/png", in, len, &out, &olen, &w, &h, why,
				     sizeof(why)), 0, "%s", why);
	cr_assert(w == 2 && h == 1);
	decode(out, olen, back, sizeof(back), &w, &h);
	cr_assert_eq(memcmp(rgb, back, 6), 0);
	free(out);
	/* told by its signature without a MIME type */
	cr_assert_eq(convert(NULL, in, len, &out, &olen, why, sizeof(why)), 0, "%s", why);
	free(out);
	/* truncated: libpng's reason */
	refused("image/png", in, len / 2, "PNG");
	free(in);
	REFUSED("image/png", "P6\n1 1 255\n\0\0\0", "PNG");
}

Test(shotpng, oversize_png_is_refused)
{
	unsigned char *rgb = calloc((size_t)(SHOTPNG_MAX_DIM + 1) * 3, 1);
	size_t len;
	void *in = encode(rgb, SHOTPNG_MAX_DIM + 1, 1, &len);

	refused("image/png", in, len, "larger than a screenshot");
	free(in);
	free(rgb);
}
