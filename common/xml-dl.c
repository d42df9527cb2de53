/* libxml2 on first use (common/xml-dl.h). */
#include "common/xml-dl.h"

#include <dlfcn.h>

XML_DL_SYMS(DLSYM_DEFINE)

static const struct dlsym_entry xml_dl_syms[] = {
	XML_DL_SYMS(DLSYM_ENTRY)
};

static struct dlsym_lib xml_dl_lib =
	DLSYM_LIB("libxml2.so.2", "libxml2", RTLD_LOCAL, xml_dl_syms);

int
xml_dl_load(void)
{
	return dlsym_lib_load(&xml_dl_lib);
}

void
xml_dl_free(void *p)
{
	if (p)
		(*sym_xmlFree)(p);
}

void
xml_dl_free_doc(xmlDocPtr doc)
{
	if (doc)
		sym_xmlFreeDoc(doc);
}
