// GNU libmicrohttpd (Debian libmicrohttpd-dev). microhttpd.h needs the socket and size types first.
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <microhttpd.h>
