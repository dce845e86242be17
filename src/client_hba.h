/* client_hba.h - auth_type = hba at login: the rule that decides, peer and cert */
#ifndef PGRING_CLIENT_HBA_H
#define PGRING_CLIENT_HBA_H

#include <stdbool.h>

struct client;

/*
 * Resolves auth_type = hba for cl into the auth_type start_auth runs
 * (trust, plain, md5, scram-sha-256).  peer and cert are settled here and
 * come back as AUTH_TYPE_PEER / AUTH_TYPE_CERT: the name is proven, no
 * password is wanted, but the role must still be known (auth_file or
 * auth_query), as PgBouncer wants.  false when the
 * client was refused: it has its error, and the log says which rule.
 */
bool client_hba_method(struct client *cl, int *auth_type);

/* auth_type = cert: the verified client certificate's CN must be the role.
 * false when refused (cl has its error). */
bool client_cert_login(struct client *cl);

#endif
