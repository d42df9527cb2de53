/* Which agent a protection group belongs to on the receiver: the certificate
 * CN recorded in <store>/<group>/owner.json. A group has one source at a
 * time; another agent's points are refused until `nestor group handover`. */
#ifndef NESTOR_RECEIVER_OWNER_H
#define NESTOR_RECEIVER_OWNER_H

#include <stddef.h>

#define OWNER_CN_MAX 255 /* a certificate CN, as the TLS layer gives it */

enum owner_verdict {
	OWNER_OK,     /* the peer owns the group */
	OWNER_ADOPT,  /* no record yet: the peer becomes the owner */
	OWNER_REFUSE, /* another agent owns the group */
};

/* The pure decision for a POINT_BEGIN of peer when recorded is the group's
 * owner (NULL: no record). */
enum owner_verdict owner_decide(const char *recorded, const char *peer);

/* Group's owner into cn[OWNER_CN_MAX + 1]. 0 found; 1 no record (cn "");
 * -1 unreadable or malformed (logged once, naming the file: the record is
 * then neither trusted nor overwritten). */
int owner_load(const char *store_dir, const char *group, char *cn);
/* Record cn as group's owner durably (the group's directory must exist).
 * 0 / -1 (logged). */
int owner_save(const char *store_dir, const char *group, const char *cn);

/* The receiver's check of a POINT_BEGIN, made before anything is created:
 * 0 allowed, with *verdict OK or ADOPT (then call owner_save once the
 * point is begun); -1 refused, with the reason for the agent in why. */
int owner_check(const char *store_dir, const char *group, const char *peer,
		enum owner_verdict *verdict, char *why, size_t whycap);

#endif
