/* SPDX-License-Identifier: Apache-2.0 */
/* Protobuf writing for the exporters' request messages: see export-wire.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "export-wire.h"

static int wire_grow(struct wire_buf *w, size_t n)
{
	uint8_t *np;
	size_t cap;

	if (w->err)
		return w->err;
	if (w->len + n <= w->cap)
		return 0;
	cap = w->cap ? w->cap : 256;
	while (cap < w->len + n)
		cap *= 2;
	np = realloc(w->p, cap);
	if (!np)
		return w->err = -ENOMEM;
	w->p = np;
	w->cap = cap;
	return 0;
}

static void wire_put_varint(struct wire_buf *w, uint64_t v)
{
	if (wire_grow(w, 10) < 0)
		return;
	do {
		uint8_t b = v & 0x7f;

		v >>= 7;
		w->p[w->len++] = (uint8_t)(b | (v ? 0x80 : 0));
	} while (v);
}

void wire_put_bytes(struct wire_buf *w, unsigned field, const void *data, size_t len)
{
	wire_put_varint(w, (uint64_t)field << 3 | 2);
	wire_put_varint(w, len);
	if (wire_grow(w, len) < 0)
		return;
	if (len)
		memcpy(w->p + w->len, data, len);
	w->len += len;
}

void wire_put_string(struct wire_buf *w, unsigned field, const char *s)
{
	wire_put_bytes(w, field, s, strlen(s));
}

void wire_put_label(struct wire_buf *w, unsigned field, const char *name, const char *value)
{
	struct wire_buf l = {0};

	wire_put_string(&l, 1, name);
	wire_put_string(&l, 2, value);
	if (l.err)
		w->err = l.err;
	else
		wire_put_message(w, field, &l);
	wire_buf_done(&l);
}

void wire_buf_done(struct wire_buf *w)
{
	free(w->p);
	*w = (struct wire_buf){0};
}
