/* notify.h - tells a supervising service manager (systemd) what state pgring is in */
#ifndef PGRING_NOTIFY_H
#define PGRING_NOTIFY_H

/*
 * Each is a no-op when pgring was built without libsystemd or was not started
 * by systemd with Type=notify (no $NOTIFY_SOCKET).  Errors are not reported:
 * a supervisor that cannot be told is no reason to stop pooling.
 */

/* The listeners are up: systemd may start the units ordered after pgring. */
void notify_ready(void);
/* A reload (SIGHUP) begins; notify_ready() says when it is over, failed or not. */
void notify_reloading(void);
/* Shutdown has begun; status says why, in words shown by systemctl status. */
void notify_stopping(const char *status);

#endif
