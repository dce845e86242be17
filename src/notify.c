/* notify.c - sd_notify(3) state changes for systemd's Type=notify */

#include "notify.h"

#ifdef HAVE_SYSTEMD
#include <time.h>

#include <systemd/sd-daemon.h>

void notify_ready(void)
{
	sd_notify(0, "READY=1\nSTATUS=accepting connections");
}

void notify_reloading(void)
{
	struct timespec ts;

	/* MONOTONIC_USEC lets systemd (Type=notify-reload, 253+) match this
	 * message to the reload it asked for; older versions ignore it */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=%llu",
		   (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void notify_stopping(const char *status)
{
	sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status ? status : "shutting down");
}

#else

void notify_ready(void)
{
}

void notify_reloading(void)
{
}

void notify_stopping(const char *status)
{
	(void)status;
}

#endif
