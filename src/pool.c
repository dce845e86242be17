/* pool.c - placeholder */
