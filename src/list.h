/* list.h - intrusive circular doubly-linked lists with O(1) counts */
#ifndef PGRING_LIST_H
#define PGRING_LIST_H

#include <stddef.h>

struct list_node {
	struct list_node *next, *prev;
};

/* A list head that knows its length, so SHOW POOLS needs no walk. */
struct list {
	struct list_node head;
	unsigned count;
};

#define list_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void list_init(struct list *l)
{
	l->head.next = l->head.prev = &l->head;
	l->count = 0;
}

static inline void list_node_init(struct list_node *n)
{
	n->next = n->prev = n;
}

static inline int list_empty(const struct list *l)
{
	return l->head.next == &l->head;
}

static inline void list_append(struct list *l, struct list_node *n)
{
	n->prev = l->head.prev;
	n->next = &l->head;
	l->head.prev->next = n;
	l->head.prev = n;
	l->count++;
}

static inline void list_prepend(struct list *l, struct list_node *n)
{
	n->next = l->head.next;
	n->prev = &l->head;
	l->head.next->prev = n;
	l->head.next = n;
	l->count++;
}

static inline void list_remove(struct list *l, struct list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_node_init(n);
	l->count--;
}

static inline struct list_node *list_first(const struct list *l)
{
	return list_empty(l) ? NULL : l->head.next;
}

#define list_for_each(pos, l) \
	for (pos = (l)->head.next; pos != &(l)->head; pos = pos->next)

#define list_for_each_safe(pos, tmp, l) \
	for (pos = (l)->head.next, tmp = pos->next; pos != &(l)->head; pos = tmp, tmp = pos->next)

#endif
