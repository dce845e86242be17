/* proto.c - placeholder */
