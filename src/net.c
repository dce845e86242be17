/* net.c - placeholder */
