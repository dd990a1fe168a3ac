/* SPDX-License-Identifier: Apache-2.0 */
/* Reply helpers shared by the front and the core (see request.h). */
#include "core/request.h"

#include "base/metrics.h"

void
cki_reply_status(const cki_reply_sink *sink, const cki_reply_to *to, uint64_t id, ck_err status,
                 const char *message)
{
	cki_response resp = CACHEKIT__AGENT__V1__RESPONSE__INIT;
	resp.id = id;
	resp.status = status;
	resp.message = (char *)(message ? message : "");
	if (status != CK_OK)
		cki_metrics_inc(CKI_C_ERRORS);
	sink->send(sink->arg, to, &resp);
}

void
cki_request_free(cki_request *req)
{
	if (req != NULL)
		cachekit__agent__v1__request__free_unpacked(req, NULL);
}
