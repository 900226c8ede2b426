// chttp: a small HTTP front end over GNU libmicrohttpd (0.9.75+) for servers whose handlers do slow work.
//
// Contract, in one paragraph: libmicrohttpd (MHD) owns the sockets and a small pool of epoll I/O threads.
// chttp reads each request body into a private buffer (hard-capped at max_body_bytes), then calls the
// application's handler ONCE per request on an I/O thread with the complete request. The handler must not
// block; it either answers at once with chttp_respond(), or hands the request to another thread, which
// calls chttp_respond() later. Until then the connection is suspended, so no I/O thread waits on work.
// Every handed-out request must be answered exactly once with chttp_respond(), even if the client has
// already gone away: chttp keeps the request alive (reference counted) until both sides are done with it.
#ifndef CHTTP_H
#define CHTTP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct chttp_server chttp_server;
typedef struct chttp_request chttp_request;

typedef struct chttp_config {
    const char *host;              // IPv4 or IPv6 literal to bind ("127.0.0.1", "0.0.0.0", "::"); NULL = 127.0.0.1
    uint16_t port;                 // 0 = an ephemeral port; read the bound one with chttp_port()
    unsigned threads;              // I/O threads (epoll); 0 or 1 = one internal thread
    unsigned connection_limit;     // total concurrent connections (suspended ones count); 0 = MHD default
    unsigned per_ip_limit;         // concurrent connections per client address; 0 = unlimited
    unsigned timeout_s;            // idle timeout of a connection that is not suspended; 0 = none
    size_t max_body_bytes;         // larger bodies are answered 413 without reaching the handler's body
} chttp_config;

typedef struct chttp_header {
    const char *name;
    const char *value;
} chttp_header;

// Called once per complete request, on an I/O thread. Must not block.
typedef void (*chttp_handler)(chttp_request *req, void *user);

// Starts listening. Returns NULL and writes a message into err (if given) when the address cannot be bound
// or the daemon cannot start.
chttp_server *chttp_start(const chttp_config *config, chttp_handler handler, void *user,
                          char *err, size_t err_len);

// The bound TCP port (useful after port 0).
uint16_t chttp_port(const chttp_server *server);

// Number of open connections (including suspended ones), or -1 if unknown.
int chttp_connection_count(const chttp_server *server);

// Stops accepting new connections; open connections keep being served. Idempotent.
void chttp_quiesce(chttp_server *server);

// Answers every request still waiting for the application with 503, gives open responses up to
// grace_ms to be sent, then stops the I/O threads and frees the server. Requests the application still
// holds stay valid until it calls chttp_respond() (which then returns CHTTP_ERR_CLOSED).
void chttp_stop(chttp_server *server, unsigned grace_ms);

// ---- request accessors: valid from the handler call until chttp_respond() on that request ----
const char *chttp_request_method(const chttp_request *req);
const char *chttp_request_path(const chttp_request *req);       // percent-decoded path, no query
const char *chttp_request_version(const chttp_request *req);    // "HTTP/1.1"
const char *chttp_request_peer(const chttp_request *req);       // client address, "" if unknown
size_t chttp_request_header_count(const chttp_request *req);
const char *chttp_request_header_name(const chttp_request *req, size_t i);
const char *chttp_request_header_value(const chttp_request *req, size_t i);
// Case-insensitive lookup of the first header with this name; NULL if absent.
const char *chttp_request_header(const chttp_request *req, const char *name);
size_t chttp_request_query_count(const chttp_request *req);
const char *chttp_request_query_name(const chttp_request *req, size_t i);
const char *chttp_request_query_value(const chttp_request *req, size_t i); // "" for "?flag"
const uint8_t *chttp_request_body(const chttp_request *req);    // NULL when empty
size_t chttp_request_body_length(const chttp_request *req);
// 1 when the body exceeded max_body_bytes (by Content-Length, or while reading a chunked body). The body is
// then empty; the handler should answer 413 at once (if it does not answer synchronously chttp does).
int chttp_request_body_too_large(const chttp_request *req);

enum {
    CHTTP_OK = 0,
    CHTTP_ERR_CLOSED = -1,    // the client went away or the server stopped; nothing was sent
    CHTTP_ERR_INVALID = -2,   // bad header (NULL, CR/LF, empty or malformed name), status outside 100..999, or no
                              // memory for the body: a 500 is sent instead (NULL req: nothing is sent)
};

// Answers the request: copies status, headers and body, resumes the connection and lets an I/O thread
// send the response. Callable from any thread, exactly once per request; it releases the application's
// hold on req, so req must not be used afterwards. Content-Length and Date are added by MHD.
int chttp_respond(chttp_request *req, unsigned status, const chttp_header *headers, size_t n_headers,
                  const void *body, size_t body_len);

#ifdef __cplusplus
}
#endif

#endif
