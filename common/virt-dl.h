/* libvirt, loaded on first use: the libvirt functions Nestor calls, as
 * sym_<name> pointers typed by libvirt's headers (common/dlsym.h). */
#ifndef NESTOR_COMMON_VIRT_DL_H
#define NESTOR_COMMON_VIRT_DL_H

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "common/dlsym.h"

#define VIRT_DL_SYMS(X)                                                        \
	X(virConnectClose)                                                     \
	X(virConnectGetVersion)                                                \
	X(virConnectIsAlive)                                                   \
	X(virConnectOpen)                                                      \
	X(virDomainAbortJob)                                                   \
	X(virDomainAgentSetResponseTimeout)                                    \
	X(virDomainBackupBegin)                                                \
	X(virDomainBackupGetXMLDesc)                                           \
	X(virDomainCheckpointDelete)                                           \
	X(virDomainCheckpointFree)                                             \
	X(virDomainCheckpointGetName)                                          \
	X(virDomainCheckpointGetXMLDesc)                                       \
	X(virDomainCheckpointLookupByName)                                     \
	X(virDomainCreate)                                                     \
	X(virDomainCreateWithFlags)                                            \
	X(virDomainCreateXML)                                                  \
	X(virDomainDefineXML)                                                  \
	X(virDomainDestroy)                                                    \
	X(virDomainFSFreeze)                                                   \
	X(virDomainFSThaw)                                                     \
	X(virDomainFree)                                                       \
	X(virDomainGetBlockInfo)                                               \
	X(virDomainGetJobStats)                                                \
	X(virDomainGetState)                                                   \
	X(virDomainGetTime)                                                    \
	X(virDomainGetUUIDString)                                              \
	X(virDomainGetXMLDesc)                                                 \
	X(virDomainInterfaceAddresses)                                         \
	X(virDomainInterfaceFree)                                              \
	X(virDomainIsActive)                                                   \
	X(virDomainListAllCheckpoints)                                         \
	X(virDomainLookupByName)                                               \
	X(virDomainResume)                                                     \
	X(virDomainScreenshot)                                                 \
	X(virDomainShutdownFlags)                                              \
	X(virDomainSuspend)                                                    \
	X(virDomainUndefine)                                                   \
	X(virDomainUndefineFlags)                                              \
	X(virGetLastErrorCode)                                                 \
	X(virGetLastErrorMessage)                                              \
	X(virNetworkCreate)                                                    \
	X(virNetworkCreateXML)                                                 \
	X(virNetworkDefineXML)                                                 \
	X(virNetworkDestroy)                                                   \
	X(virNetworkFree)                                                      \
	X(virNetworkIsActive)                                                  \
	X(virNetworkLookupByName)                                              \
	X(virNetworkUndefine)                                                  \
	X(virNetworkUpdate)                                                    \
	X(virSetErrorFunc)                                                     \
	X(virStreamAbort)                                                      \
	X(virStreamFinish)                                                     \
	X(virStreamFree)                                                       \
	X(virStreamNew)                                                        \
	X(virStreamRecv)                                                       \
	X(virTypedParamsFree)                                                  \
	X(virTypedParamsGetInt)

VIRT_DL_SYMS(DLSYM_DECLARE)

/* Loads libvirt.so.0 and resolves every sym_ above; the first time, it
 * also silences libvirt's default error printing (Nestor logs each error
 * once, with context, from sym_virGetLastErrorMessage). Call it before the
 * first sym_ call (opening a connection); 0, or -1 with one error logged
 * (the library, the package to install). Thread-safe and cheap once loaded. */
int virt_dl_load(void);

/* The calling thread's last libvirt error message, for a log line; never
 * NULL (static or libvirt's thread-local string: not to be freed). Only
 * after virt_dl_load succeeded. */
const char *virt_dl_error(void);

#endif
