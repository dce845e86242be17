/* worker.h - placeholder */
