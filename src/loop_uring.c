/* loop_uring.c - placeholder */
