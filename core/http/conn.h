/*
 * conn.h - an accepted connection, before and after it knows its protocol.
 *
 * conn_accept wraps the socket in a bufferevent (TLS through
 * bufferevent_openssl), then picks the protocol: ALPN on TLS; on cleartext
 * the HTTP/2 connection preface (prior knowledge) or else HTTP/1.1.
 */
#ifndef PT_HTTP_CONN_H
#define PT_HTTP_CONN_H

#include <sys/socket.h>
#include "portico/portico.h"

struct bufferevent;
struct listener_info;
struct conn;

enum conn_proto { CONN_DETECT = 0, CONN_H1 = 1, CONN_H2 = 2, CONN_WS = 3 };

struct conn_ops {
	void (*drain)(struct conn *c);   /* graceful stop: finish in-flight, then close */
	void (*abort)(struct conn *c);   /* close now, abort exchanges, free c */
};

struct conn {
	struct conn *prev, *next;        /* the worker's list */
	pt_worker *w;
	const struct listener_info *li;
	struct bufferevent *bev;
	int proto;
	int tls;
	const struct conn_ops *ops;
	void *impl;                      /* struct h1_conn or struct h2_conn */
	char remote[64];                 /* "ip:port" */
	size_t remote_len;
};

/* Takes FD; never fails loudly: on error the socket is closed and logged. */
void conn_accept(pt_worker *w, const struct listener_info *li, int fd, struct sockaddr *sa,
                 int socklen);
void conn_drain(struct conn *c);
void conn_abort(struct conn *c);
/* Frees the bufferevent and C, and removes it from its worker. */
void conn_free(struct conn *c);

/* Protocol entry points: take over C, whose input may already hold bytes. */
int h1_conn_start(struct conn *c);
int h2_conn_start(struct conn *c);

#endif
