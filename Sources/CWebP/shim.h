// libwebp (Debian libwebp-dev); include path from pkg-config "libwebp".
#include <webp/decode.h>
