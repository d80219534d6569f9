/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Choosing exporters: "KIND=DEST" specifications (from --export or the configuration) to
 * backends, and the defaults of the options the network exporters share.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "export.h"
#include "log.h"
#include "upload.h"

#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_CONNECT_TIMEOUT_S 10
#define DEFAULT_CONCURRENCY 4
#define DEFAULT_RETRY_MAX_S 60
#define DEFAULT_SPOOL_MAX_BYTES (256ULL << 20)

void export_options_default(struct export_options *o)
{
	*o = (struct export_options){
		.timeout_s = DEFAULT_TIMEOUT_S,
		.connect_timeout_s = DEFAULT_CONNECT_TIMEOUT_S,
		.concurrency = DEFAULT_CONCURRENCY,
		.retry_max_s = DEFAULT_RETRY_MAX_S,
		.spool_max_bytes = DEFAULT_SPOOL_MAX_BYTES,
	};
}

static const struct {
	const char *kind;
	int api; /* enum export_api, or -1 for files */
} kinds[] = {
	{"file", -1},
	{"pyroscope", EXPORT_PYROSCOPE_PUSH},
	{"pyroscope-ingest", EXPORT_PYROSCOPE_INGEST},
	{"parca", EXPORT_PARCA_GRPC},
	{"parca-grpc-web", EXPORT_PARCA_GRPC_WEB},
	{"datadog", EXPORT_DATADOG},
};

int export_new_from_spec(const char *spec, const struct export_options *o, struct exporter *ret)
{
	const char *eq = strchr(spec, '='), *dest;
	char shown[200];
	size_t klen;
	int api = -2, r;

	if (eq) {
		klen = (size_t)(eq - spec);
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (strlen(kinds[i].kind) == klen &&
			    strncmp(spec, kinds[i].kind, klen) == 0)
				api = kinds[i].api;
	}
	dest = eq ? eq + 1 : "";
	if (api == -2 || !*dest) {
		log_error("--export %.*s...: expected KIND=DESTINATION with KIND one of file, "
			  "pyroscope, pyroscope-ingest, parca, parca-grpc-web, datadog (e.g. "
			  "pyroscope=http://localhost:4040)",
			  eq ? (int)(eq - spec) : 20, spec);
		return -EINVAL;
	}
	if (api >= 0 && strncmp(dest, "http://", 7) != 0 && strncmp(dest, "https://", 8) != 0) {
		upload_redact_url(dest, shown, sizeof(shown));
		log_error("--export %.*s=%s: expected an http:// or https:// URL", (int)(eq - spec),
			  spec, shown);
		return -EINVAL;
	}
	switch (api) {
	case -1:
		r = export_file_new(dest, o, ret);
		break;
	case EXPORT_PYROSCOPE_PUSH:
	case EXPORT_PYROSCOPE_INGEST:
		r = export_pyroscope_new(dest, (enum export_api)api, o, ret);
		break;
	case EXPORT_PARCA_GRPC:
	case EXPORT_PARCA_GRPC_WEB:
		r = export_parca_new(dest, (enum export_api)api, o, ret);
		break;
	default:
		r = export_datadog_new(dest, o, ret);
		break;
	}
	if (r < 0)
		return r;
	if (api == -1)
		snprintf(shown, sizeof(shown), "%s", dest);
	else
		upload_redact_url(dest, shown, sizeof(shown));
	snprintf(ret->target, sizeof(ret->target), "%.*s=%s", (int)(eq - spec), spec, shown);
	return 0;
}

void exporter_done(struct exporter *e)
{
	if (e->ops)
		e->ops->free(e->ctx);
	*e = (struct exporter){0};
}
