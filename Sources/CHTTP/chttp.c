// chttp: libmicrohttpd front end. See include/chttp.h for the contract.
//
// Why one file of ~700 lines: everything here is one state machine around MHD's callbacks (request state, its
// reference count, suspend/resume, quiesce and stop) sharing static helpers and the server struct; split across
// files those would become extern and the life of a request (below) would no longer read in one place.
//
// Life of a request (one `chttp_request`, reference counted):
//   1. First access-handler call (headers only): allocate state (ref held by MHD, dropped in
//      NOTIFY_COMPLETED). A Content-Length above the cap is answered 413 right here, so the body is never read.
//   2. Body calls: append to a private buffer; past the cap the rest is discarded and the request is marked
//      too large (MHD 0.9.75 cannot queue a response while upload data is being delivered).
//   3. Final call: copy headers/query/peer out of MHD, take a second ref for the application and call its
//      handler. If it answered synchronously the response is queued at once; otherwise the connection is
//      suspended (no MHD thread waits for the work).
//   4. chttp_respond() from any thread stores the response in the request and resumes the connection;
//      MHD then calls the access handler again on its own thread, where the stored response is queued.
//   5. NOTIFY_COMPLETED (sent, client gone, timeout, shutdown) marks the request terminated and drops MHD's
//      ref. A late chttp_respond() on a terminated request only drops the application's ref.
// Lock order: server->lock before req->lock. The only MHD calls made under server->lock are the suspend/queue
// at the end of dispatch() (on the connection's own I/O thread), which keeps "decide to suspend" atomic with
// chttp_stop()'s scan for suspended requests.
#define _GNU_SOURCE
#include "chttp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

// Per-connection MHD memory pool (headers + read buffer; not the body). The manual: >128 KiB rarely helps.
#define CHTTP_CONNECTION_MEMORY (64u * 1024u)
// After the cap is crossed mid-upload we keep reading (and dropping) at most this much more before
// closing the connection, so that the client normally still gets its 413.
#define CHTTP_MIN_DISCARD (64u * 1024u)

typedef struct kv {
    char *name;
    char *value;
} kv;

typedef struct kv_list {
    kv *items;
    size_t count;
    size_t cap;
    bool failed; // an allocation failed while collecting
} kv_list;

enum req_state {
    RS_RECEIVING,   // reading headers/body
    RS_DISPATCHING, // the application's handler is running on the MHD thread
    RS_SUSPENDED,   // handed to the application; connection suspended
    RS_RESPONDED,   // a response is stored; waiting for the MHD thread to queue it
    RS_QUEUED,      // response queued with MHD (or the request was abandoned)
};

struct chttp_request {
    pthread_mutex_t lock;
    int refs;                      // guarded by lock
    enum req_state state;          // guarded by lock
    bool terminated;               // guarded by lock: NOTIFY_COMPLETED has run
    struct MHD_Connection *conn;   // guarded by lock; NULL once terminated
    chttp_server *server;          // not to be used once terminated

    char *method, *path, *version;
    char peer[INET6_ADDRSTRLEN + 1];
    kv_list headers, query;

    uint8_t *body;
    size_t body_len, body_cap;
    bool too_large;
    size_t discarded;

    // Pending response (set by chttp_respond, consumed by the MHD thread).
    unsigned resp_status;
    kv_list resp_headers;
    uint8_t *resp_body;
    size_t resp_len;

    chttp_request *prev, *next;    // server's list of live requests, guarded by server->lock
};

struct chttp_server {
    struct MHD_Daemon *daemon;
    chttp_handler handler;
    void *user;
    size_t max_body;
    uint16_t port;
    int listen_fd;                 // -1 once quiesced

    pthread_mutex_t lock;
    chttp_request *requests;       // live requests (first callback .. NOTIFY_COMPLETED)
    size_t live;
    bool stopping;                 // no new suspensions; answer 503 instead
    atomic_int resuming;           // chttp_respond calls between deciding to resume and MHD_resume_connection
};

// ---------------------------------------------------------------- small helpers

static void set_err(char *err, size_t err_len, const char *fmt, ...) {
    if (err == NULL || err_len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

static char *dup_or_empty(const char *s) {
    return strdup(s != NULL ? s : "");
}

static void kv_list_free(kv_list *l) {
    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i].name);
        free(l->items[i].value);
    }
    free(l->items);
    memset(l, 0, sizeof(*l));
}

static bool kv_list_add(kv_list *l, const char *name, const char *value) {
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        kv *items = realloc(l->items, cap * sizeof(kv));
        if (items == NULL) { l->failed = true; return false; }
        l->items = items;
        l->cap = cap;
    }
    char *n = dup_or_empty(name), *v = dup_or_empty(value);
    if (n == NULL || v == NULL) { free(n); free(v); l->failed = true; return false; }
    l->items[l->count].name = n;
    l->items[l->count].value = v;
    l->count++;
    return true;
}

static enum MHD_Result collect_kv(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    kv_list_add((kv_list *)cls, key, value);
    return MHD_YES;
}

// MHD's messages as JSON lines on stderr, like the Swift side's request log.
static void log_mhd(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512], out[1200];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t o = 0;
    const char *prefix = "{\"level\":\"warn\",\"source\":\"libmicrohttpd\",\"message\":\"";
    o += (size_t)snprintf(out, sizeof out, "%s", prefix);
    for (const char *p = msg; *p && o + 8 < sizeof out; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\n' || c == '\r') continue;
        if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
        else if (c < 0x20) o += (size_t)snprintf(out + o, sizeof out - o, "\\u%04x", c);
        else out[o++] = (char)c;
    }
    o += (size_t)snprintf(out + o, sizeof out - o, "\"}\n");
    ssize_t w = write(STDERR_FILENO, out, o < sizeof out ? o : sizeof out - 1);
    (void)w;
}

// ---------------------------------------------------------------- request state

static void request_release(chttp_request *req) {
    pthread_mutex_lock(&req->lock);
    int left = --req->refs;
    pthread_mutex_unlock(&req->lock);
    if (left > 0) return;
    pthread_mutex_destroy(&req->lock);
    free(req->method);
    free(req->path);
    free(req->version);
    kv_list_free(&req->headers);
    kv_list_free(&req->query);
    free(req->body);
    kv_list_free(&req->resp_headers);
    free(req->resp_body);
    free(req);
}

static chttp_request *request_new(chttp_server *srv, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version) {
    chttp_request *req = calloc(1, sizeof *req);
    if (req == NULL) return NULL;
    if (pthread_mutex_init(&req->lock, NULL) != 0) { free(req); return NULL; }
    req->refs = 1; // MHD's, dropped in NOTIFY_COMPLETED
    req->state = RS_RECEIVING;
    req->conn = conn;
    req->server = srv;
    req->method = dup_or_empty(method);
    req->path = dup_or_empty(url);
    req->version = dup_or_empty(version);
    if (req->method == NULL || req->path == NULL || req->version == NULL) {
        request_release(req);
        return NULL;
    }
    pthread_mutex_lock(&srv->lock);
    req->next = srv->requests;
    if (srv->requests) srv->requests->prev = req;
    srv->requests = req;
    srv->live++;
    pthread_mutex_unlock(&srv->lock);
    return req;
}

static void request_unlink(chttp_server *srv, chttp_request *req) {
    pthread_mutex_lock(&srv->lock);
    if (req->prev) req->prev->next = req->next;
    else if (srv->requests == req) srv->requests = req->next;
    if (req->next) req->next->prev = req->prev;
    req->prev = req->next = NULL;
    if (srv->live > 0) srv->live--;
    pthread_mutex_unlock(&srv->lock);
}

static void fill_peer(chttp_request *req, struct MHD_Connection *conn) {
    req->peer[0] = '\0';
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, req->peer, sizeof req->peer);
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, req->peer, sizeof req->peer);
    }
}

// Caller holds req->lock; req->state == RS_RESPONDED. Hands the stored response to MHD.
static enum MHD_Result queue_stored_response_locked(chttp_request *req, struct MHD_Connection *conn) {
    req->state = RS_QUEUED;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        req->resp_len, req->resp_body, req->resp_body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) return MHD_NO;
    req->resp_body = NULL; // now owned by the response
    req->resp_len = 0;
    unsigned status = req->resp_status;
    bool bad_header = req->resp_headers.failed;
    for (size_t i = 0; i < req->resp_headers.count && !bad_header; i++) {
        if (MHD_add_response_header(resp, req->resp_headers.items[i].name,
                                    req->resp_headers.items[i].value) != MHD_YES) {
            bad_header = true;
        }
    }
    if (bad_header) {
        // The application produced a header MHD refuses (CR/LF, or Content-Length): answer 500 instead of
        // sending something half-formed.
        MHD_destroy_response(resp);
        static const char msg[] = "{\"error\":{\"code\":\"internal_error\",\"message\":\"invalid response header\","
                                  "\"type\":\"server_error\",\"request_id\":null}}";
        resp = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        if (resp == NULL) return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", "application/json");
        status = 500;
    }
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

// Used when the application did not answer a request that must be answered now (oversize body, shutdown).
static enum MHD_Result queue_fallback(struct MHD_Connection *conn, unsigned status, const char *code,
                                      const char *message) {
    char body[256];
    int n = snprintf(body, sizeof body,
                     "{\"error\":{\"code\":\"%s\",\"message\":\"%s\",\"type\":\"%s\",\"request_id\":null}}",
                     code, message, status >= 500 ? "server_error" : "invalid_request_error");
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof body) n = (int)sizeof body - 1;
    struct MHD_Response *resp = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (status == 503) MHD_add_response_header(resp, "Retry-After", "1");
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

// Final access-handler call for a request: hand it to the application.
// must_answer_now: the request cannot be suspended (a 413 decided on the first call).
static enum MHD_Result dispatch(chttp_server *srv, chttp_request *req, struct MHD_Connection *conn,
                                bool must_answer_now) {
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_kv, &req->headers);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_kv, &req->query);
    fill_peer(req, conn);
    if (req->headers.failed || req->query.failed) {
        pthread_mutex_lock(&req->lock);
        req->state = RS_QUEUED;
        pthread_mutex_unlock(&req->lock);
        return queue_fallback(conn, 503, "out_of_memory", "server out of memory");
    }

    pthread_mutex_lock(&req->lock);
    req->state = RS_DISPATCHING;
    req->refs++; // the application's, dropped by chttp_respond
    pthread_mutex_unlock(&req->lock);

    srv->handler(req, srv->user);

    pthread_mutex_lock(&srv->lock);
    pthread_mutex_lock(&req->lock);
    enum MHD_Result r;
    if (req->state == RS_RESPONDED) {
        r = queue_stored_response_locked(req, conn);
    } else if (must_answer_now) {
        req->state = RS_QUEUED; // the application's later chttp_respond only drops its ref
        r = queue_fallback(conn, 413, "payload_too_large", "request body too large");
    } else if (srv->stopping) {
        req->state = RS_QUEUED;
        r = queue_fallback(conn, 503, "shutting_down", "server is shutting down");
    } else {
        req->state = RS_SUSPENDED;
        MHD_suspend_connection(conn);
        r = MHD_YES; // after a suspend, MHD_YES is the only legal answer
    }
    pthread_mutex_unlock(&req->lock);
    pthread_mutex_unlock(&srv->lock);
    return r;
}

static bool append_body(chttp_request *req, const char *data, size_t n, size_t max) {
    size_t need = req->body_len + n;
    if (need > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 4096;
        while (cap < need) cap = cap > max / 2 ? max : cap * 2;
        uint8_t *b = realloc(req->body, cap);
        if (b == NULL) return false;
        req->body = b;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len = need;
    return true;
}

static void mark_too_large(chttp_request *req) {
    req->too_large = true;
    free(req->body);
    req->body = NULL;
    req->body_len = req->body_cap = 0;
}

// ---------------------------------------------------------------- MHD callbacks

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Percent-decoding of the URL path and query arguments, as libmicrohttpd's own (malformed escapes stay as
// they are, '+' is not a space), except that "%00" stays undecoded: a decoded NUL ends the C string the
// handler receives, so "/healthz%00junk" used to route as "/healthz". Kept literal, it matches no route.
static size_t unescape_keeping_nul(void *cls, struct MHD_Connection *conn, char *s) {
    (void)cls;
    (void)conn;
    char *r = s, *w = s;
    while (*r != '\0') {
        if (r[0] == '%' && hex_value(r[1]) >= 0 && hex_value(r[2]) >= 0) {
            int v = hex_value(r[1]) * 16 + hex_value(r[2]);
            if (v != 0) {
                *w++ = (char)v;
                r += 3;
                continue;
            }
        }
        *w++ = *r++;
    }
    *w = '\0';
    return (size_t)(w - s);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **req_cls) {
    chttp_server *srv = cls;
    chttp_request *req = *req_cls;

    if (req == NULL) { // first call: headers only
        req = request_new(srv, conn, url, method, version);
        if (req == NULL) return MHD_NO; // out of memory: MHD closes the connection
        *req_cls = req;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL) {
            errno = 0;
            char *end = NULL;
            unsigned long long len = strtoull(cl, &end, 10);
            if (errno == 0 && end != cl && len > srv->max_body) {
                mark_too_large(req);
                return dispatch(srv, req, conn, true); // 413 before reading any of the body
            }
            if (errno == 0 && end != cl && len > 0) {
                req->body = malloc((size_t)len);
                if (req->body != NULL) req->body_cap = (size_t)len;
            }
        }
        return MHD_YES;
    }

    if (*upload_data_size > 0) { // a piece of the body
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->too_large) {
            req->discarded += n;
            size_t allowance = srv->max_body > CHTTP_MIN_DISCARD ? srv->max_body : CHTTP_MIN_DISCARD;
            return req->discarded > allowance ? MHD_NO : MHD_YES; // MHD_NO closes the connection
        }
        if (n > srv->max_body - req->body_len) {
            mark_too_large(req);
            req->discarded = n;
            return MHD_YES;
        }
        if (!append_body(req, upload_data, n, srv->max_body)) return MHD_NO;
        return MHD_YES;
    }

    // Body complete, or the connection was resumed after chttp_respond().
    pthread_mutex_lock(&req->lock);
    enum req_state st = req->state;
    if (st == RS_RESPONDED) {
        enum MHD_Result r = queue_stored_response_locked(req, conn);
        pthread_mutex_unlock(&req->lock);
        return r;
    }
    pthread_mutex_unlock(&req->lock);
    if (st != RS_RECEIVING) return MHD_YES; // spurious call while the application works (not expected)
    return dispatch(srv, req, conn, false);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)conn;
    (void)toe;
    chttp_server *srv = cls;
    chttp_request *req = *req_cls;
    if (req == NULL) return;
    *req_cls = NULL;
    request_unlink(srv, req);
    pthread_mutex_lock(&req->lock);
    req->terminated = true;
    req->conn = NULL;
    pthread_mutex_unlock(&req->lock);
    request_release(req);
}

// ---------------------------------------------------------------- public API

int chttp_respond(chttp_request *req, unsigned status, const chttp_header *headers, size_t n_headers,
                  const void *body, size_t body_len) {
    if (req == NULL) return CHTTP_ERR_INVALID;
    int result = CHTTP_OK;

    // Copy outside the lock: bodies can be megabytes.
    kv_list hs = {0};
    for (size_t i = 0; i < n_headers; i++) {
        // CR/LF would let a value inject headers; MHD refuses them too, but only later on the I/O thread.
        if (headers[i].name == NULL || headers[i].value == NULL || headers[i].name[0] == '\0' ||
            strpbrk(headers[i].name, "\r\n: \t") != NULL || strpbrk(headers[i].value, "\r\n") != NULL) {
            hs.failed = true;
            break;
        }
        if (!kv_list_add(&hs, headers[i].name, headers[i].value)) break;
    }
    uint8_t *copy = NULL;
    if (body_len > 0 && body != NULL) {
        copy = malloc(body_len);
        if (copy != NULL) memcpy(copy, body, body_len);
    }
    if (body_len > 0 && copy == NULL) hs.failed = true; // answered 500 by the MHD thread
    if (hs.failed) result = CHTTP_ERR_INVALID;
    if (status < 100 || status > 999) { status = 500; result = CHTTP_ERR_INVALID; }

    pthread_mutex_lock(&req->lock);
    if (req->terminated || (req->state != RS_DISPATCHING && req->state != RS_SUSPENDED)) {
        pthread_mutex_unlock(&req->lock);
        kv_list_free(&hs);
        free(copy);
        request_release(req);
        return CHTTP_ERR_CLOSED;
    }
    bool resume = req->state == RS_SUSPENDED;
    chttp_server *srv = req->server;
    // Counted while req->lock is held, so chttp_stop (which scans under the same lock) either answers this
    // request itself or waits for this resume before stopping MHD.
    if (resume) atomic_fetch_add(&srv->resuming, 1);
    req->state = RS_RESPONDED;
    req->resp_status = status;
    req->resp_headers = hs;
    req->resp_body = copy;
    req->resp_len = copy ? body_len : 0;
    struct MHD_Connection *conn = req->conn;
    pthread_mutex_unlock(&req->lock);

    // A suspended connection cannot complete, so conn stays valid until this resume; with MHD_USE_ITC the
    // call is thread-safe and wakes the connection's I/O thread, which queues the stored response.
    if (resume) {
        MHD_resume_connection(conn);
        atomic_fetch_sub(&srv->resuming, 1); // srv must not be touched after this
    }
    request_release(req);
    return result;
}

chttp_server *chttp_start(const chttp_config *config, chttp_handler handler, void *user,
                          char *err, size_t err_len) {
    if (config == NULL || handler == NULL) {
        set_err(err, err_len, "missing configuration or handler");
        return NULL;
    }
    const char *host = (config->host && config->host[0]) ? config->host : "127.0.0.1";
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t ss_len;
    bool v6 = false;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(config->port);
        ss_len = sizeof *sin;
    } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(config->port);
        ss_len = sizeof *sin6;
        v6 = true;
    } else {
        set_err(err, err_len, "invalid host '%s': expected an IPv4 or IPv6 address", host);
        return NULL;
    }

    // Bind ourselves (rather than letting MHD do it) to report the exact reason a bind fails.
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_err(err, err_len, "socket: %s", strerror(errno));
        return NULL;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, (struct sockaddr *)&ss, ss_len) != 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE) {
            set_err(err, err_len, "cannot listen on %s port %u: the port is already in use", host,
                    (unsigned)config->port);
        } else {
            set_err(err, err_len, "cannot bind %s port %u: %s", host, (unsigned)config->port, strerror(e));
        }
        return NULL;
    }
    if (listen(fd, SOMAXCONN) != 0) {
        set_err(err, err_len, "listen: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof bound;
    uint16_t port = config->port;
    if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) == 0) {
        port = ntohs(v6 ? ((struct sockaddr_in6 *)&bound)->sin6_port : ((struct sockaddr_in *)&bound)->sin_port);
    }

    chttp_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL || pthread_mutex_init(&srv->lock, NULL) != 0) {
        free(srv);
        close(fd);
        set_err(err, err_len, "out of memory");
        return NULL;
    }
    srv->handler = handler;
    srv->user = user;
    srv->max_body = config->max_body_bytes;
    srv->port = port;
    srv->listen_fd = fd;

    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    struct MHD_OptionItem ops[12];
    size_t n = 0;
    // The logger must come first, or MHD prints messages about earlier options with its default logger.
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)log_mhd, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape_keeping_nul, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, CHTTP_CONNECTION_MEMORY, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)config->timeout_s, NULL};
    if (config->connection_limit > 0)
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)config->connection_limit, NULL};
    if (config->per_ip_limit > 0)
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)config->per_ip_limit, NULL};
    if (config->threads > 1)
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)config->threads, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    srv->daemon = MHD_start_daemon(flags, port, NULL, NULL, on_access, srv,
                                   MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        set_err(err, err_len, "libmicrohttpd failed to start on %s port %u (see the log above)", host,
                (unsigned)port);
        close(fd);
        pthread_mutex_destroy(&srv->lock);
        free(srv);
        return NULL;
    }
    return srv;
}

uint16_t chttp_port(const chttp_server *server) {
    return server ? server->port : 0;
}

int chttp_connection_count(const chttp_server *server) {
    if (server == NULL || server->daemon == NULL) return -1;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return di ? (int)di->num_connections : -1;
}

void chttp_quiesce(chttp_server *server) {
    if (server == NULL || server->daemon == NULL) return;
    pthread_mutex_lock(&server->lock);
    int had = server->listen_fd;
    server->listen_fd = -1;
    pthread_mutex_unlock(&server->lock);
    if (had < 0) return;
    MHD_socket fd = MHD_quiesce_daemon(server->daemon);
    // After quiescing MHD no longer owns the listening socket; closing it refuses new connections.
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void chttp_stop(chttp_server *server, unsigned grace_ms) {
    if (server == NULL) return;
    chttp_quiesce(server);

    // MHD forbids stopping with suspended connections: answer whatever the application still holds.
    pthread_mutex_lock(&server->lock);
    server->stopping = true;
    size_t n = 0;
    for (chttp_request *r = server->requests; r; r = r->next) n++;
    struct MHD_Connection **resume = n ? calloc(n, sizeof *resume) : NULL;
    size_t k = 0;
    for (chttp_request *r = server->requests; r && resume; r = r->next) {
        pthread_mutex_lock(&r->lock);
        if (r->state == RS_SUSPENDED && !r->terminated) {
            static const char msg[] = "{\"error\":{\"code\":\"shutting_down\",\"message\":\"server is shutting down\","
                                      "\"type\":\"server_error\",\"request_id\":null}}";
            r->resp_status = 503;
            r->resp_body = malloc(sizeof msg - 1);
            if (r->resp_body) { memcpy(r->resp_body, msg, sizeof msg - 1); r->resp_len = sizeof msg - 1; }
            kv_list_add(&r->resp_headers, "Content-Type", "application/json");
            kv_list_add(&r->resp_headers, "Retry-After", "1");
            r->state = RS_RESPONDED;
            resume[k++] = r->conn;
        }
        pthread_mutex_unlock(&r->lock);
    }
    pthread_mutex_unlock(&server->lock);
    for (size_t i = 0; i < k; i++) MHD_resume_connection(resume[i]);
    free(resume);

    // Give queued responses a moment to go out before connections are closed.
    for (unsigned waited = 0; waited < grace_ms; waited += 10) {
        pthread_mutex_lock(&server->lock);
        size_t live = server->live;
        pthread_mutex_unlock(&server->lock);
        if (live == 0) break;
        sleep_ms(10);
    }
    while (atomic_load(&server->resuming) > 0) sleep_ms(1); // a resume racing with the scan above
    MHD_stop_daemon(server->daemon); // joins the I/O threads; NOTIFY_COMPLETED runs for every open request
    server->daemon = NULL;
    pthread_mutex_destroy(&server->lock);
    free(server);
}

// ---------------------------------------------------------------- accessors

const char *chttp_request_method(const chttp_request *req) { return req ? req->method : ""; }
const char *chttp_request_path(const chttp_request *req) { return req ? req->path : ""; }
const char *chttp_request_version(const chttp_request *req) { return req ? req->version : ""; }
const char *chttp_request_peer(const chttp_request *req) { return req ? req->peer : ""; }
size_t chttp_request_header_count(const chttp_request *req) { return req ? req->headers.count : 0; }

const char *chttp_request_header_name(const chttp_request *req, size_t i) {
    return (req && i < req->headers.count) ? req->headers.items[i].name : NULL;
}

const char *chttp_request_header_value(const chttp_request *req, size_t i) {
    return (req && i < req->headers.count) ? req->headers.items[i].value : NULL;
}

const char *chttp_request_header(const chttp_request *req, const char *name) {
    if (req == NULL || name == NULL) return NULL;
    for (size_t i = 0; i < req->headers.count; i++) {
        if (strcasecmp(req->headers.items[i].name, name) == 0) return req->headers.items[i].value;
    }
    return NULL;
}

size_t chttp_request_query_count(const chttp_request *req) { return req ? req->query.count : 0; }

const char *chttp_request_query_name(const chttp_request *req, size_t i) {
    return (req && i < req->query.count) ? req->query.items[i].name : NULL;
}

const char *chttp_request_query_value(const chttp_request *req, size_t i) {
    return (req && i < req->query.count) ? req->query.items[i].value : NULL;
}

const uint8_t *chttp_request_body(const chttp_request *req) {
    return (req && req->body_len > 0) ? req->body : NULL;
}

size_t chttp_request_body_length(const chttp_request *req) { return req ? req->body_len : 0; }
int chttp_request_body_too_large(const chttp_request *req) { return req && req->too_large ? 1 : 0; }
