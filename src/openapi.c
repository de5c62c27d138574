/*
 * openapi.c
 *		GET /v1/openapi.json: the OpenAPI 3.1 document of every route.
 *
 * The document is openapi.json of the repository, installed beside the
 * extension's script as bar9.openapi.json (Makefile).  It is read once per
 * backend and kept; a missing file is a server fault (500), not a client's.
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "api.h"
#include "openapi.h"

/* The document, read on first use; NULL before. */
static char *openapi_document = NULL;

/* Read the installed document into TopMemoryContext. */
static char *
OpenapiRead(void)
{
	char		sharepath[MAXPGPATH];
	char	   *path;
	FILE	   *f;
	StringInfoData buf;
	char		chunk[8192];
	size_t		n;
	MemoryContext old;

	get_share_path(my_exec_path, sharepath);
	path = psprintf("%s/extension/bar9.openapi.json", sharepath);
	f = AllocateFile(path, PG_BINARY_R);
	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open \"%s\": %m", path)));
	old = MemoryContextSwitchTo(TopMemoryContext);
	initStringInfo(&buf);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		appendBinaryStringInfo(&buf, chunk, (int) n);
	MemoryContextSwitchTo(old);
	FreeFile(f);
	return buf.data;
}

/* GET /v1/openapi.json */
void
openapi_handler(ApiRequest *req, ApiResponse *resp)
{
	if (openapi_document == NULL)
		openapi_document = OpenapiRead();
	resp->status = 200;
	json_out_raw(&resp->json, openapi_document);
}

PG_FUNCTION_INFO_V1(bar9_api_routes);

/*
 * SQL: bar9.api_routes() -> TABLE(method, path, scope): the route table of
 * bar9.api, paths in OpenAPI's form ("{channel_id}"), scope NULL for a
 * public route; the tests hold openapi.json to it.
 */
Datum
bar9_api_routes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo;

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	for (int i = 0; i < bar9_nroutes; i++)
	{
		const ApiRoute *r = &bar9_routes[i];
		StringInfoData path;
		Datum		values[3];
		bool		nulls[3] = {false, false, r->scope == 0};

		initStringInfo(&path);
		for (const char *p = r->pattern; *p; p++)
		{
			if (*p == ':')
			{
				size_t		len = strcspn(p + 1, "/");

				appendStringInfo(&path, "{%.*s}", (int) len, p + 1);
				p += len;
			}
			else
				appendStringInfoChar(&path, *p);
		}
		values[0] = CStringGetTextDatum(r->method);
		values[1] = CStringGetTextDatum(path.data);
		values[2] = r->scope == 0 ? (Datum) 0 :
			CStringGetTextDatum(auth_scope_name(r->scope));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
