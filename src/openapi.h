/*
 * openapi.h
 *		GET /v1/openapi.json: the OpenAPI 3.1 document of the API, the
 *		repository's openapi.json as installed with the extension.
 */
#ifndef BAR9_OPENAPI_H
#define BAR9_OPENAPI_H

#include "api.h"

/* Route handler (routes.c): a public route, no key needed. */
extern void openapi_handler(ApiRequest *req, ApiResponse *resp);

#endif							/* BAR9_OPENAPI_H */
