/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Relabel rules: parsing and validation (Prometheus' error messages where it has them),
 * then the evaluator. Each regex is compiled once as \A(?:re)\z: the whole value must
 * match, as Prometheus anchors with ^(?:re)$ in RE2 (where $ never matches before a final
 * newline, unlike PCRE's $; \z is the exact equivalent).
 */
#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "relabel.h"
#include "util.h"

enum relabel_action {
	RA_REPLACE,
	RA_KEEP,
	RA_DROP,
	RA_KEEPEQUAL,
	RA_DROPEQUAL,
	RA_HASHMOD,
	RA_LABELMAP,
	RA_LABELDROP,
	RA_LABELKEEP,
	RA_LOWERCASE,
	RA_UPPERCASE,
};

static const char *const action_names[] = {
	"replace",  "keep",	 "drop",      "keepequal", "dropequal", "hashmod",
	"labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase",
};

struct relabel_rule {
	enum relabel_action action;
	char **source_labels;
	size_t n_source;
	char *separator;
	char *regex_src;
	pcre2_code *re;
	char *target_label;
	char *replacement;
	uint64_t modulus;
};

struct relabel_rules {
	struct relabel_rule *v;
	size_t n;
};

static void rule_done(struct relabel_rule *r)
{
	for (size_t i = 0; i < r->n_source; i++)
		free(r->source_labels[i]);
	free(r->source_labels);
	free(r->separator);
	free(r->regex_src);
	pcre2_code_free(r->re);
	free(r->target_label);
	free(r->replacement);
}

void relabel_rules_free(struct relabel_rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		rule_done(&r->v[i]);
	free(r->v);
	free(r);
}

size_t relabel_rules_count(const struct relabel_rules *r)
{
	return r ? r->n : 0;
}

#define FAIL(field, ...)                                                                           \
	do {                                                                                       \
		snprintf(err, err_size, __VA_ARGS__);                                              \
		snprintf(err_path, err_path_size, "[%zu]%s%s", idx, (field)[0] ? "." : "",         \
			 (field));                                                                 \
		return -EINVAL;                                                                    \
	} while (0)

static int rule_from_json(const json_t *o, size_t idx, struct relabel_rule *r, char *err,
			  size_t err_size, char *err_path, size_t err_path_size)
{
	const char *key;
	json_t *v;
	bool has_sep = false, has_regex = false, has_repl = false;
	int errcode;
	PCRE2_SIZE erroff;
	char *anchored;
	size_t len;

	*r = (struct relabel_rule){.action = RA_REPLACE};
	if (!json_is_object(o))
		FAIL("", "a relabel rule must be an object");
	json_object_foreach((json_t *)o, key, v)
	{
		if (strcmp(key, "source_labels") == 0) {
			size_t i;
			json_t *e;

			if (!json_is_array(v))
				FAIL(key, "source_labels must be an array of label names");
			r->source_labels = calloc(json_array_size(v) + 1, sizeof(char *));
			if (!r->source_labels)
				return -ENOMEM;
			json_array_foreach(v, i, e)
			{
				if (!json_is_string(e))
					FAIL(key, "source_labels must be an array of label names");
				if (!label_name_valid(json_string_value(e)))
					FAIL(key, "%s is not a valid label name",
					     json_string_value(e));
				r->source_labels[r->n_source++] = strdup(json_string_value(e));
			}
		} else if (strcmp(key, "separator") == 0 || strcmp(key, "regex") == 0 ||
			   strcmp(key, "target_label") == 0 || strcmp(key, "replacement") == 0 ||
			   strcmp(key, "action") == 0) {
			const char *s;

			if (!json_is_string(v))
				FAIL(key, "%s must be a string", key);
			s = json_string_value(v);
			if (key[0] == 's') {
				r->separator = strdup(s);
				has_sep = true;
			} else if (key[0] == 'r' && key[2] == 'g') {
				r->regex_src = strdup(s);
				has_regex = true;
			} else if (key[0] == 't') {
				r->target_label = strdup(s);
			} else if (key[0] == 'r') {
				r->replacement = strdup(s);
				has_repl = true;
			} else {
				size_t a;
				char lower[32];

				/* Prometheus compares actions case-insensitively. */
				snprintf(lower, sizeof(lower), "%s", s);
				for (char *p = lower; *p; p++)
					if (*p >= 'A' && *p <= 'Z')
						*p = (char)(*p - 'A' + 'a');
				for (a = 0; a < ARRAY_SIZE(action_names); a++)
					if (strcmp(lower, action_names[a]) == 0)
						break;
				if (a == ARRAY_SIZE(action_names))
					FAIL(key, "unknown relabel action \"%s\"", s);
				r->action = (enum relabel_action)a;
			}
		} else if (strcmp(key, "modulus") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0)
				FAIL(key, "modulus must be a non-negative integer");
			r->modulus = (uint64_t)json_integer_value(v);
		} else {
			FAIL(key,
			     "unknown relabel rule field \"%s\" (expected source_labels, "
			     "separator, regex, target_label, replacement, modulus, action)",
			     key);
		}
	}
	if (!r->separator)
		r->separator = strdup(";");
	if (!r->regex_src)
		r->regex_src = strdup("(.*)");
	if (!r->replacement)
		r->replacement = strdup("$1");
	if (!r->source_labels)
		r->source_labels = calloc(1, sizeof(char *));
	if (!r->separator || !r->regex_src || !r->replacement || !r->source_labels)
		return -ENOMEM;

	/* Prometheus' Config.Validate, in its order and words. */
	if (r->action == RA_HASHMOD && r->modulus == 0)
		FAIL("modulus", "relabel configuration for hashmod requires non-zero modulus");
	if ((r->action == RA_REPLACE || r->action == RA_HASHMOD || r->action == RA_LOWERCASE ||
	     r->action == RA_UPPERCASE || r->action == RA_KEEPEQUAL || r->action == RA_DROPEQUAL) &&
	    (!r->target_label || !r->target_label[0]))
		FAIL("target_label",
		     "relabel configuration for %s action requires 'target_label' "
		     "value",
		     action_names[r->action]);
	if ((r->action == RA_REPLACE || r->action == RA_LOWERCASE || r->action == RA_UPPERCASE ||
	     r->action == RA_KEEPEQUAL || r->action == RA_DROPEQUAL) &&
	    !label_name_valid(r->target_label) &&
	    !(r->action == RA_REPLACE && strchr(r->target_label, '$')))
		FAIL("target_label", "\"%s\" is invalid 'target_label' for %s action",
		     r->target_label, action_names[r->action]);
	if ((r->action == RA_LOWERCASE || r->action == RA_UPPERCASE || r->action == RA_KEEPEQUAL ||
	     r->action == RA_DROPEQUAL) &&
	    has_repl)
		FAIL("replacement", "'replacement' can not be set for %s action",
		     action_names[r->action]);
	if (r->action == RA_LABELMAP && !label_name_valid(r->replacement) &&
	    !strchr(r->replacement, '$'))
		FAIL("replacement", "\"%s\" is invalid 'replacement' for %s action", r->replacement,
		     action_names[r->action]);
	if (r->action == RA_HASHMOD && !label_name_valid(r->target_label))
		FAIL("target_label", "\"%s\" is invalid 'target_label' for %s action",
		     r->target_label, action_names[r->action]);
	if ((r->action == RA_KEEPEQUAL || r->action == RA_DROPEQUAL) &&
	    (has_regex || has_sep || r->modulus))
		FAIL("",
		     "%s action requires only 'source_labels' and `target_label`, and no "
		     "other fields",
		     action_names[r->action]);
	if ((r->action == RA_LABELDROP || r->action == RA_LABELKEEP) &&
	    (r->n_source || r->target_label || r->modulus || has_sep || has_repl))
		FAIL("", "%s action requires only 'regex', and no other fields",
		     action_names[r->action]);

	len = strlen(r->regex_src);
	anchored = malloc(len + 16);
	if (!anchored)
		return -ENOMEM;
	snprintf(anchored, len + 16, "\\A(?:%s)\\z", r->regex_src);
	r->re = pcre2_compile((PCRE2_SPTR)anchored, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &errcode,
			      &erroff, NULL);
	free(anchored);
	if (!r->re) {
		PCRE2_UCHAR msg[256];

		pcre2_get_error_message(errcode, msg, sizeof(msg));
		FAIL("regex", "invalid regex \"%s\": %s", r->regex_src, (const char *)msg);
	}
	return 0;
}

int relabel_rules_from_json(const json_t *arr, struct relabel_rules **ret, char *err,
			    size_t err_size, char *err_path, size_t err_path_size)
{
	struct relabel_rules *rs;
	size_t idx = 0;
	json_t *e;

	if (!json_is_array(arr)) {
		snprintf(err, err_size, "relabel_configs must be an array of rules");
		snprintf(err_path, err_path_size, "%s", "");
		return -EINVAL;
	}
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	rs->v = calloc(json_array_size(arr) + 1, sizeof(*rs->v));
	if (!rs->v) {
		free(rs);
		return -ENOMEM;
	}
	json_array_foreach((json_t *)arr, idx, e)
	{
		int r = rule_from_json(e, idx, &rs->v[idx], err, err_size, err_path, err_path_size);

		rs->n = idx + 1;
		if (r < 0) {
			relabel_rules_free(rs);
			return r;
		}
	}
	*ret = rs;
	return 0;
}

/* A dynamic string, capped at LABEL_MAX_BYTES (longer results are cut). */
struct dstr {
	char buf[LABEL_MAX_BYTES];
	size_t n;
};

static void dstr_add(struct dstr *d, const char *s, size_t len)
{
	if (len > sizeof(d->buf) - 1 - d->n)
		len = sizeof(d->buf) - 1 - d->n;
	memcpy(d->buf + d->n, s, len);
	d->n += len;
	d->buf[d->n] = '\0';
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/*
 * Go's Regexp.Expand: $name or ${name}, where name is the longest run of letters, digits
 * and underscores ($1x is the group named "1x"); a number names a group by index; $$ is a
 * dollar; a malformed reference copies the $ as is. Missing groups expand to nothing.
 */
static void expand(const pcre2_code *re, pcre2_match_data *md, const char *subject,
		   const char *tmpl, struct dstr *out)
{
	PCRE2_SIZE *ov = md ? pcre2_get_ovector_pointer(md) : NULL;
	uint32_t n_groups = md ? pcre2_get_ovector_count(md) : 0;

	out->n = 0;
	out->buf[0] = '\0';
	for (const char *p = tmpl; *p;) {
		const char *dollar = strchr(p, '$'), *name, *end;
		char nm[128];
		size_t nlen;
		bool brace = false;

		if (!dollar) {
			dstr_add(out, p, strlen(p));
			break;
		}
		dstr_add(out, p, (size_t)(dollar - p));
		p = dollar + 1;
		if (*p == '$') {
			dstr_add(out, "$", 1);
			p++;
			continue;
		}
		if (*p == '{') {
			brace = true;
			p++;
		}
		name = p;
		for (end = p; is_name_char(*end); end++)
			;
		nlen = (size_t)(end - name);
		if (nlen == 0 || (brace && *end != '}') || nlen >= sizeof(nm)) {
			/* malformed: the $ is text, and scanning resumes right after it */
			dstr_add(out, "$", 1);
			p = dollar + 1;
			continue;
		}
		memcpy(nm, name, nlen);
		nm[nlen] = '\0';
		p = brace ? end + 1 : end;
		{
			long g = -1;
			bool numeric = true;

			for (size_t i = 0; i < nlen; i++)
				if (nm[i] < '0' || nm[i] > '9')
					numeric = false;
			if (numeric) {
				g = nlen < 9 ? strtol(nm, NULL, 10) : -1;
			} else if (re) {
				int gi = pcre2_substring_number_from_name(re, (PCRE2_SPTR)nm);

				g = gi > 0 ? gi : -1;
			}
			if (g >= 0 && (uint32_t)g < n_groups && ov[2 * g] != PCRE2_UNSET)
				dstr_add(out, subject + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
		}
	}
}

static bool match(const pcre2_code *re, const char *s, pcre2_match_data *md)
{
	return pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL) >= 0;
}

/* MD5 (RFC 1321), for hashmod's compatibility with Prometheus. */
static void md5(const uint8_t *msg, size_t len, uint8_t out[16])
{
	static const uint32_t K[64] = {
		0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
		0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
		0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
		0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
		0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
		0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
		0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
		0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
		0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
		0xeb86d391,
	};
	static const uint8_t S[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
				      5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
				      4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
				      6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
	uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
	uint64_t bits = (uint64_t)len * 8;
	size_t total = ((len + 8) / 64 + 1) * 64;

	for (size_t off = 0; off < total; off += 64) {
		uint8_t blk[64];
		uint32_t w[16], a = h[0], b = h[1], c = h[2], d = h[3];

		for (size_t i = 0; i < 64; i++) {
			size_t k = off + i;

			if (k < len)
				blk[i] = msg[k];
			else if (k == len)
				blk[i] = 0x80;
			else if (k >= total - 8)
				blk[i] = (uint8_t)(bits >> (8 * (k - (total - 8))));
			else
				blk[i] = 0;
		}
		for (int i = 0; i < 16; i++)
			w[i] = (uint32_t)blk[4 * i] | (uint32_t)blk[4 * i + 1] << 8 |
			       (uint32_t)blk[4 * i + 2] << 16 | (uint32_t)blk[4 * i + 3] << 24;
		for (int i = 0; i < 64; i++) {
			uint32_t f, g, t;

			if (i < 16) {
				f = (b & c) | (~b & d);
				g = i;
			} else if (i < 32) {
				f = (d & b) | (~d & c);
				g = (5 * i + 1) % 16;
			} else if (i < 48) {
				f = b ^ c ^ d;
				g = (3 * i + 5) % 16;
			} else {
				f = c ^ (b | ~d);
				g = (7 * i) % 16;
			}
			t = d;
			d = c;
			c = b;
			f += a + K[i] + w[g];
			b += (f << S[i]) | (f >> (32 - S[i]));
			a = t;
		}
		h[0] += a;
		h[1] += b;
		h[2] += c;
		h[3] += d;
	}
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (uint8_t)(h[i] >> (8 * j));
}

/*
 * Go's strings.ToLower/ToUpper: rune by rune, simple case mappings (ß stays ß). The rune
 * mapping comes from the C.UTF-8 locale's towlower_l/towupper_l; invalid UTF-8 bytes are
 * copied as they are.
 */
static void change_case(const struct dstr *in, struct dstr *out, bool upper)
{
	static locale_t loc;
	static bool tried;

	if (!tried) {
		loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
		tried = true;
	}
	out->n = 0;
	out->buf[0] = '\0';
	for (size_t i = 0; i < in->n;) {
		const unsigned char *p = (const unsigned char *)in->buf + i;
		uint32_t cp;
		size_t len;
		char enc[4];

		if (p[0] < 0x80) {
			cp = p[0];
			len = 1;
		} else if ((p[0] & 0xe0) == 0xc0 && i + 1 < in->n && (p[1] & 0xc0) == 0x80) {
			cp = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
			len = 2;
		} else if ((p[0] & 0xf0) == 0xe0 && i + 2 < in->n && (p[1] & 0xc0) == 0x80 &&
			   (p[2] & 0xc0) == 0x80) {
			cp = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 |
			     (p[2] & 0x3f);
			len = 3;
		} else if ((p[0] & 0xf8) == 0xf0 && i + 3 < in->n && (p[1] & 0xc0) == 0x80 &&
			   (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80) {
			cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
			     (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
			len = 4;
		} else {
			dstr_add(out, (const char *)p, 1);
			i++;
			continue;
		}
		if (loc)
			cp = (uint32_t)(upper ? towupper_l((wint_t)cp, loc)
					      : towlower_l((wint_t)cp, loc));
		else if (cp < 0x80)
			cp = (uint32_t)(upper ? toupper((int)cp) : tolower((int)cp));
		if (cp < 0x80) {
			enc[0] = (char)cp;
			dstr_add(out, enc, 1);
		} else if (cp < 0x800) {
			enc[0] = (char)(0xc0 | cp >> 6);
			enc[1] = (char)(0x80 | (cp & 0x3f));
			dstr_add(out, enc, 2);
		} else if (cp < 0x10000) {
			enc[0] = (char)(0xe0 | cp >> 12);
			enc[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
			enc[2] = (char)(0x80 | (cp & 0x3f));
			dstr_add(out, enc, 3);
		} else {
			enc[0] = (char)(0xf0 | cp >> 18);
			enc[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
			enc[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
			enc[3] = (char)(0x80 | (cp & 0x3f));
			dstr_add(out, enc, 4);
		}
		i += len;
	}
}

static void join_sources(const struct relabel_rule *r, const struct labelset *ls, struct dstr *d)
{
	d->n = 0;
	d->buf[0] = '\0';
	for (size_t i = 0; i < r->n_source; i++) {
		const char *v = labelset_get(ls, r->source_labels[i]);

		if (i)
			dstr_add(d, r->separator, strlen(r->separator));
		if (v)
			dstr_add(d, v, strlen(v));
	}
}

static int apply_one(const struct relabel_rule *r, struct labelset *ls, pcre2_match_data *md)
{
	static __thread struct dstr val, tgt, res;
	int rc = 0;

	join_sources(r, ls, &val);
	switch (r->action) {
	case RA_DROP:
		return match(r->re, val.buf, md) ? 0 : 1;
	case RA_KEEP:
		return match(r->re, val.buf, md) ? 1 : 0;
	case RA_DROPEQUAL: {
		const char *t = labelset_get(ls, r->target_label);

		return strcmp(val.buf, t ? t : "") == 0 ? 0 : 1;
	}
	case RA_KEEPEQUAL: {
		const char *t = labelset_get(ls, r->target_label);

		return strcmp(val.buf, t ? t : "") == 0 ? 1 : 0;
	}
	case RA_REPLACE:
		if (!match(r->re, val.buf, md))
			return 1;
		expand(r->re, md, val.buf, r->target_label, &tgt);
		if (!label_name_valid(tgt.buf))
			return 1;
		expand(r->re, md, val.buf, r->replacement, &res);
		if (res.n == 0) {
			labelset_del(ls, tgt.buf);
			return 1;
		}
		rc = labelset_set(ls, tgt.buf, res.buf);
		return rc < 0 ? rc : 1;
	case RA_LOWERCASE:
	case RA_UPPERCASE:
		change_case(&val, &res, r->action == RA_UPPERCASE);
		rc = labelset_set(ls, r->target_label, res.buf);
		return rc < 0 ? rc : 1;
	case RA_HASHMOD: {
		uint8_t sum[16];
		uint64_t x = 0;
		char num[32];

		md5((const uint8_t *)val.buf, val.n, sum);
		for (int i = 8; i < 16; i++)
			x = x << 8 | sum[i];
		snprintf(num, sizeof(num), "%" PRIu64, x % r->modulus);
		rc = labelset_set(ls, r->target_label, num);
		return rc < 0 ? rc : 1;
	}
	case RA_LABELMAP: {
		/* Reads the set as it was before the rule: later names win collisions. */
		struct labelset orig;

		rc = labelset_copy(&orig, ls);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < orig.n && rc >= 0; i++)
			if (match(r->re, orig.v[i].name, md)) {
				expand(r->re, md, orig.v[i].name, r->replacement, &res);
				/* An invalid name (e.g. empty) would make the whole set invalid
				 * downstream: skip it, as replace skips an invalid target. */
				if (label_name_valid(res.buf))
					rc = labelset_set(ls, res.buf, orig.v[i].value);
			}
		labelset_done(&orig);
		return rc < 0 ? rc : 1;
	}
	case RA_LABELDROP:
	case RA_LABELKEEP:
		for (size_t i = 0; i < ls->n;) {
			bool m = match(r->re, ls->v[i].name, md);

			if (m == (r->action == RA_LABELDROP)) {
				char *name = strdup(ls->v[i].name);

				if (!name)
					return -ENOMEM;
				labelset_del(ls, name);
				free(name);
			} else {
				i++;
			}
		}
		return 1;
	}
	return 1;
}

int relabel_apply(const struct relabel_rules *rs, struct labelset *ls)
{
	pcre2_match_data *md;
	int r = 1;

	if (!rs || rs->n == 0)
		return 1;
	md = pcre2_match_data_create(64, NULL);
	if (!md)
		return -ENOMEM;
	for (size_t i = 0; i < rs->n && r == 1; i++)
		r = apply_one(&rs->v[i], ls, md);
	pcre2_match_data_free(md);
	return r;
}
