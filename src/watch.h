/* The daemon's loop over every account (see watch.c). */
#ifndef FACTEUR_WATCH_H
#define FACTEUR_WATCH_H

struct runner;

/* Work every account until *r->stop (or *r->reload, when set) is set. */
int	watch_loop(struct runner *);

#endif
