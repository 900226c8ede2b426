// OpenBLAS CBLAS interface (Debian libopenblas-dev); include path comes from pkg-config "openblas".
#include <cblas.h>
