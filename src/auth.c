/* auth.c - placeholder */
