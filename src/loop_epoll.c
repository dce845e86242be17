/* loop_epoll.c - placeholder */
