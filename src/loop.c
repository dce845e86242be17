/* loop.c - placeholder */
