/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Protobuf writing for the network exporters' small request messages (Pyroscope's
 * PushRequest, Parca's WriteRawRequest): a growable buffer that messages are written into
 * from the innermost out, so every length is known when its prefix is written. The pprof
 * encoder (pprof.c) has its own, sized-up-front writer for the large message.
 *
 * Errors stick: after a failed allocation every call is a no-op and ->err is -ENOMEM.
 */
#ifndef PA_EXPORT_WIRE_H
#define PA_EXPORT_WIRE_H

#include <stddef.h>
#include <stdint.h>

struct wire_buf {
	uint8_t *p; /* malloc'ed, owned */
	size_t len, cap;
	int err;
};

/* Field `field` as length-delimited bytes (wire type 2). */
void wire_put_bytes(struct wire_buf *w, unsigned field, const void *data, size_t len);
static inline void wire_put_message(struct wire_buf *w, unsigned field,
				    const struct wire_buf *inner)
{
	wire_put_bytes(w, field, inner->p, inner->len);
}
void wire_put_string(struct wire_buf *w, unsigned field, const char *s);
/* A label pair message {name = 1; value = 2} as field `field` (both backends use it). */
void wire_put_label(struct wire_buf *w, unsigned field, const char *name, const char *value);
void wire_buf_done(struct wire_buf *w);

#endif
