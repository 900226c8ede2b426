// libpng 1.6 (Debian libpng-dev); include path comes from pkg-config "libpng".
#include <png.h>
