/* libxml2, loaded on first use: the libxml2 functions Nestor calls, as
 * sym_<name> pointers typed by libxml2's headers (common/dlsym.h). An exec
 * that parses no XML (an agent's file cycle, most CLI commands) no longer
 * loads libxml2 with ICU and the C++ runtime (~4 ms per start here). */
#ifndef NESTOR_COMMON_XML_DL_H
#define NESTOR_COMMON_XML_DL_H

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/globals.h> /* xmlFree, after parser.h */

#include "common/dlsym.h"

#define XML_DL_SYMS(X)                                                         \
	X(xmlFree) /* a variable: sym_xmlFree points at it */                   \
	X(xmlAddChild)                                                         \
	X(xmlCtxtGetLastError)                                                 \
	X(xmlCtxtReadMemory)                                                   \
	X(xmlDocDumpFormatMemory)                                              \
	X(xmlDocGetRootElement)                                                \
	X(xmlDocSetRootElement)                                                \
	X(xmlEncodeSpecialChars)                                               \
	X(xmlFreeDoc)                                                          \
	X(xmlFreeNode)                                                         \
	X(xmlFreeParserCtxt)                                                   \
	X(xmlGetNoNsProp)                                                      \
	X(xmlGetProp)                                                          \
	X(xmlHasProp)                                                          \
	X(xmlNewChild)                                                         \
	X(xmlNewDoc)                                                           \
	X(xmlNewNode)                                                          \
	X(xmlNewParserCtxt)                                                    \
	X(xmlNodeAddContent)                                                   \
	X(xmlNodeGetContent)                                                   \
	X(xmlNodeListGetString)                                                \
	X(xmlNodeSetContent)                                                   \
	X(xmlReadMemory)                                                       \
	X(xmlSetProp)                                                          \
	X(xmlStopParser)                                                       \
	X(xmlXPathCastToString)                                                \
	X(xmlXPathEvalExpression)                                              \
	X(xmlXPathFreeContext)                                                 \
	X(xmlXPathFreeObject)                                                  \
	X(xmlXPathNewContext)

XML_DL_SYMS(DLSYM_DECLARE)

/* Loads libxml2 if it is not yet. Call it before a parse or a new document
 * or string: every other sym_xml call takes what those made, so libxml2 is
 * loaded by then. 0 / -1 (logged, naming the package). */
int xml_dl_load(void);

/* xmlFree: frees what libxml2 allocated (strings, buffers). NULL is a no-op
 * (also before libxml2 is loaded, as in every cleanup path below). */
void xml_dl_free(void *p);
/* xmlFreeDoc; NULL is a no-op. */
void xml_dl_free_doc(xmlDocPtr doc);

#endif
