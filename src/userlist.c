/* userlist.c - placeholder */
