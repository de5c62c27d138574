/*
 * bar9.h
 *		Declarations shared by the parts of the bar9 extension.
 *
 * Each concern keeps its own header (e164.h, worker.h, ...); this one holds
 * only what _PG_init needs to start them.
 */
#ifndef BAR9_H
#define BAR9_H

/* Set by _PG_init: true when loaded through shared_preload_libraries. */
extern bool bar9_preloaded;

#endif							/* BAR9_H */
